"""Rules: operator-readable YAML rules that turn patterns of events into actions.

Public API::

    create_engine(settings=, cad=, dispatch=, store=, bus=, clock=) -> RulesEngine   # engine.py
    RulesEngine.attach(bus, ingest)      # consume committed events and observation batches
    RulesEngine.on_observations(batch)   # the observations topic's listener
    RulesEngine.on_record(recorded)      # the durable bus consumer "rules"
    RulesEngine.tick()                   # reload changed files, expire idle state (Ticker)
    RulesEngine.info() / .status()       # loaded rules, counters, last reload error
    load_rules(paths, catalogue) -> RuleSet; check_text(text, source, catalogue)  # load.py

Modules: ``schema`` (the file format), ``load`` (YAML with line numbers →
checked, compiled ``rule.Rule``), ``cel`` (CEL conditions compiled to
closures), ``windows`` (sliding aggregates), ``evaluate`` (pure semantics:
windows, sustained-for, correlation, cooldown, de-duplication), ``actions``
(commands to CAD with ids derived from the firing; ``rule.fired`` records),
``notify`` (webhook/MQTT outbox), ``events`` (``RuleFired``).
The built-in demo rule set for central Helsinki is ``default_rules.yaml``.
"""
