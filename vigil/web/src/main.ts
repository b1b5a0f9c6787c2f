// Entry: log in (token kept in sessionStorage for this tab only), then the command centre.

import "./style.css";

import { Api, ApiError, type Session } from "./api";
import { clear, h } from "./dom";
import { CommandCentre } from "./centre/shell";
import type { TokenOut } from "./types";
import { lang, t } from "./i18n";

const KEY = "vigil.session";
document.documentElement.lang = lang;
const root = document.getElementById("root")!;

declare global {
  interface Window {
    vigil?: CommandCentre;
  }
}

function saved(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as Session;
  } catch {
    return null;
  }
}

function logout(): void {
  sessionStorage.removeItem(KEY);
  window.vigil?.live?.stop();
  window.location.reload();
}

function login(message = ""): void {
  clear(root);
  const user = h("input", { id: "login-user", name: "username", autocomplete: "username", required: true });
  const pass = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "warn", role: "alert", id: "login-error" }, message);
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Vigil"),
    h("p", { class: "muted" }, t("login.cc_sub")),
    h("label", { for: "login-user" }, t("login.user")),
    user,
    h("label", { for: "login-password" }, t("login.password")),
    pass,
    error,
    h("button", { type: "submit", class: "primary", id: "login-submit" }, t("login.submit")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const s = await new Api().request<TokenOut>("POST", "/auth/login", { username: user.value, password: pass.value });
        sessionStorage.setItem(KEY, JSON.stringify({ token: s.token, name: s.name, role: s.role }));
        await start({ token: s.token, name: s.name, role: s.role });
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
        pass.select();
      }
    })();
  });
  root.append(h("main", { class: "login-wrap" }, form));
  user.focus();
}

async function start(session: Session): Promise<void> {
  const api = new Api(session);
  try {
    await api.get("/auth/me");
  } catch {
    sessionStorage.removeItem(KEY);
    login(t("login.ended"));
    return;
  }
  const centre = new CommandCentre(root, api, session, logout);
  window.vigil = centre;
  await centre.start();
}

const s = saved();
if (s) void start(s);
else login();
