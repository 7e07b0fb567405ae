import "./styles.css";
import type { ComponentChildren, ComponentType } from "preact";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ErrorList, Loading } from "./components";
import { lang, setLang, t, type MessageKey } from "./i18n";
import { type OutboxItem } from "./outbox";
import { Exercises } from "./exercises";
import { QuestionnaireList, QuestionnaireRun } from "./questionnaires";
import { Reminders } from "./reminders";
import { match, navigate, path, startRouter } from "./router";
import { chooseStaffLang, loadMe, me, online, outbox, pendingCount, signOut, startSync } from "./session";
import { SetPassword, SignIn } from "./signin";
import { useSignal } from "./state";
import { Today } from "./today";

/** Loads a screen's module on first use (charts and the dashboard stay out of the first load). */
function lazyScreen<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  return function Lazy(props: P) {
    const [component, setComponent] = useState<ComponentType<P> | null>(loaded);
    const [failed, setFailed] = useState(false);
    useEffect(() => {
      if (loaded) return;
      load().then(
        (c) => {
          loaded = c;
          setComponent(() => c);
        },
        () => setFailed(true),
      );
    }, []);
    if (failed) return <ErrorList errors={{ non_field_errors: [t("error.offline")] }} />;
    if (!component) return <Loading />;
    const Component = component;
    return <Component {...props} />;
  };
}

const Progress = lazyScreen(() => import("./progress").then((m) => m.default));
const Worklist = lazyScreen(() => import("./clinic").then((m) => m.Worklist));
const PatientDetail = lazyScreen<{ episode: string }>(() => import("./clinic").then((m) => m.PatientDetail));
const Enrol = lazyScreen(() => import("./staff").then((m) => m.Enrol));
const CohortOutcomes = lazyScreen(() => import("./staff").then((m) => m.CohortOutcomes));
const AccessLog = lazyScreen(() => import("./accesslog").then((m) => m.default));
const Security = lazyScreen(() => import("./security").then((m) => m.Security));
const TwoFactorGate = lazyScreen<{ children?: ComponentChildren }>(() => import("./security").then((m) => m.TwoFactorGate));

function SyncPanel(): preact.JSX.Element | null {
  const count = useSignal(pendingCount);
  const isOnline = useSignal(online);
  const [items, setItems] = useState<OutboxItem[]>([]);
  useEffect(() => {
    void outbox.items().then((all) => setItems(all.sort((a, b) => a.createdAt.localeCompare(b.createdAt))));
  }, [count]);
  const problems = items.filter((item) => item.state !== "pending");
  const waiting = items.filter((item) => item.state === "pending");
  return (
    <div class="sync" aria-live="polite">
      {!isOnline && <p class="banner banner-offline">{t("app.offline")}</p>}
      {waiting.length > 0 && (
        <div class="banner banner-waiting" data-testid="sync-waiting">
          <span>{t("sync.waiting", { count: waiting.length })}</span>
          <ul class="plain small">
            {waiting.map((item) => (
              <li key={item.id}>
                {t(`sync.kind.${item.kind}`, { time: new Date(item.createdAt).toLocaleTimeString(lang.value, { hour: "2-digit", minute: "2-digit" }) })}:{" "}
                {t("sync.waiting_title")}
              </li>
            ))}
          </ul>
          {isOnline && (
            <button type="button" onClick={() => void outbox.flush()}>
              {t("sync.now")}
            </button>
          )}
        </div>
      )}
      {problems.map((item) => (
        <div class="banner banner-problem" role="alert" key={item.id}>
          <p>
            {t(`sync.kind.${item.kind}`, { time: new Date(item.createdAt).toLocaleTimeString(lang.value, { hour: "2-digit", minute: "2-digit" }) })}:{" "}
            {item.state === "conflict"
              ? t("sync.conflict")
              : t("sync.rejected", { reason: Object.values(item.errors ?? {}).flat().join(" ") })}
          </p>
          <button type="button" onClick={() => void outbox.discard(item.id)}>
            {t("sync.discard")}
          </button>
        </div>
      ))}
    </div>
  );
}

const PATIENT_NAV = [
  ["/app/today/", "nav.today"],
  ["/app/exercises/", "nav.exercises"],
  ["/app/progress/", "nav.progress"],
  ["/app/questionnaires/", "nav.questionnaires"],
  ["/app/reminders/", "nav.reminders"],
] as const;

/** Staff have no preferred language on the server: the browser's, or the one picked here (kept on
 * this device). Patients follow their preferred_language. */
function StaffLanguage(): preact.JSX.Element {
  const language = useSignal(lang);
  return (
    <span class="lang-switch">
      <label for="staff-lang">{t("nav.language")}</label>{" "}
      <select id="staff-lang" value={language} onChange={(e) => chooseStaffLang((e.target as HTMLSelectElement).value === "es" ? "es" : "en")}>
        <option value="en" lang="en">
          English
        </option>
        <option value="es" lang="es">
          Español
        </option>
      </select>
    </span>
  );
}

function Header(props: { staff: boolean }): preact.JSX.Element {
  const current = useSignal(path);
  const user = useSignal(me);
  const staffNav: (readonly [string, MessageKey])[] = [["/app/clinic/", "nav.worklist"]];
  if (user && (user.role === "surgeon" || user.role === "clinic_admin")) staffNav.push(["/app/clinic/enrol/", "nav.enrol"]);
  if (user && user.role !== "patient") staffNav.push(["/app/clinic/outcomes/", "nav.outcomes"], ["/app/clinic/security/", "nav.security"]);
  const isCurrent = (href: string): boolean =>
    href === "/app/clinic/" ? current === href || current.startsWith("/app/clinic/episodes/") : current.startsWith(href);
  return (
    <header class="top">
      <a class="skip" href="#main">
        {t("app.skip")}
      </a>
      <div class="brand-row">
        <span class="brand">{t("app.name")}</span>
        {user && props.staff && <StaffLanguage />}
        {user && (
          <button type="button" class="link" onClick={() => void signOut().then(() => navigate("/app/sign-in/", true))}>
            {t("nav.signout")}
          </button>
        )}
      </div>
      {user && (
        <nav aria-label={t("nav.label")} class={props.staff ? "nav-staff" : "nav-patient"}>
          <ul>
            {(props.staff ? staffNav : PATIENT_NAV).map(([href, key]) => (
              <li key={href}>
                <a href={href} aria-current={isCurrent(href) ? "page" : undefined}>
                  {t(key)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      )}
    </header>
  );
}

function staffScreen(current: string): preact.JSX.Element {
  const detail = match(/^\/app\/clinic\/episodes\/([0-9a-f-]+)\/?$/, current);
  if (detail) return <PatientDetail episode={detail[0] ?? ""} />;
  if (current.startsWith("/app/clinic/enrol")) return <Enrol />;
  if (current.startsWith("/app/clinic/outcomes")) return <CohortOutcomes />;
  if (current.startsWith("/app/clinic/security")) return <Security />;
  return <Worklist />;
}

function Screen(): preact.JSX.Element {
  const current = useSignal(path);
  const user = useSignal(me);
  const setPw = match(/^\/app\/set-password\/([^/]+)\/([^/]+)\/?$/, current);
  if (setPw) return <SetPassword uid={setPw[0] ?? ""} token={setPw[1] ?? ""} />;
  if (!user) return <SignIn />;
  const staff = user.role !== "patient";
  if (staff) return <TwoFactorGate>{staffScreen(current)}</TwoFactorGate>;
  const questionnaire = match(/^\/app\/questionnaires\/([^/]+)\/([^/]+)\/?$/, current);
  if (questionnaire) return <QuestionnaireRun timepoint={questionnaire[0] ?? ""} code={questionnaire[1] ?? ""} />;
  if (current.startsWith("/app/exercises")) return <Exercises />;
  if (current.startsWith("/app/progress")) return <Progress />;
  if (current.startsWith("/app/questionnaires")) return <QuestionnaireList />;
  if (current.startsWith("/app/reminders")) return <Reminders />;
  if (current.startsWith("/app/access-log")) return <AccessLog />;
  return <Today />;
}

function App(): preact.JSX.Element {
  const user = useSignal(me);
  const language = useSignal(lang);
  const current = useSignal(path);
  const [ready, setReady] = useState(false);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    loadMe().then(
      () => setReady(true),
      () => {
        setFailed(true);
        setReady(true);
      },
    );
    startSync();
  }, []);

  useEffect(() => {
    if (!ready) return;
    if (!user && !current.startsWith("/app/sign-in") && !current.startsWith("/app/set-password")) navigate("/app/sign-in/", true);
    if (user && (current === "/app/" || current.startsWith("/app/sign-in"))) navigate(user.role === "patient" ? "/app/today/" : "/app/clinic/", true);
  }, [ready, user, current]);

  if (!ready) return <Loading />;
  return (
    <div class={`shell ${user && user.role !== "patient" ? "shell-staff" : "shell-patient"}`} lang={language}>
      <Header staff={!!user && user.role !== "patient"} />
      <SyncPanel />
      {failed && <ErrorList errors={{ non_field_errors: [t("error.generic")] }} />}
      <Screen />
      {user && user.role === "patient" && (
        <footer class="foot">
          <a href="/app/access-log/" aria-current={current.startsWith("/app/access-log") ? "page" : undefined}>
            {t("access.link")}
          </a>
        </footer>
      )}
    </div>
  );
}

startRouter();
setLang(lang.value);
const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}

if ("serviceWorker" in navigator) {
  window.addEventListener("load", () => {
    void navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
  });
}
