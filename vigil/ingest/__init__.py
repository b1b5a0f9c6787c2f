"""Ingest: device registry and adapters (MQTT, HTTP, NGSI-LD, CSV) turning wire data into events."""
