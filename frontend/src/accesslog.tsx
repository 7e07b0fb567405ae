/**
 * "Who viewed my record" for the patient (GET /api/v1/me/access-log/, api/audit.py): every read or
 * change of their records by a member of staff, newest first, in plain words: who (name and role),
 * when, what they did and to which part of the record. Loaded on demand (not in the first load).
 */
import { useEffect, useState } from "preact/hooks";
import { get } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, errorsOf } from "./components";
import { lang, t, type MessageKey } from "./i18n";

export interface AccessEntry {
  at: string;
  who: { name: string; role: string };
  role: string;
  action: "view" | "list" | "create" | "update" | "delete" | "export";
  resource: string;
  episodes: string[];
  via: "app" | "admin";
  device: string;
}

interface Page {
  count: number;
  next: string | null;
  results: AccessEntry[];
}

/** URL names (api/urls.py) grouped by the part of the record they show, in the patient's words. */
const PARTS: [RegExp, string][] = [
  [/^api:checkin-/, "checkins"],
  [/^api:(?:assignment-|plan-today)/, "plan"],
  [/^api:exercise-log-/, "exercise_logs"],
  [/^api:adherence/, "adherence"],
  [/^api:restrictions/, "restrictions"],
  [/^api:(?:episode-trajectory|episode-milestone)/, "progress"],
  [/^api:questionnaire-/, "questionnaires"],
  [/^api:alert-/, "alerts"],
  [/^api:episode-reminder-settings/, "reminders"],
  [/^api:(?:episode-fhir|cohort-fhir|cohort-export)/, "export"],
  [/^api:cohort/, "cohort"],
  [/^api:episode-access-log/, "access_log"],
  [/^api:episode-/, "episode"],
];

export function partOf(resource: string): string {
  if (resource.startsWith("admin:")) return "admin";
  for (const [pattern, part] of PARTS) if (pattern.test(resource)) return part;
  return "record";
}

const ROLES = new Set(["surgeon", "physiotherapist", "clinic_admin"]);

/** One line in plain words, e.g. "Sam Surgeon, your surgeon, looked at your check-ins." */
export function describeAccess(entry: AccessEntry): string {
  const role = ROLES.has(entry.role) ? t(`access.role.${entry.role}` as MessageKey) : entry.role;
  return t("access.line", {
    who: entry.who.name,
    role,
    action: t(`access.action.${entry.action}` as MessageKey),
    what: t(`access.part.${partOf(entry.resource)}` as MessageKey),
  });
}

function when(iso: string): string {
  return new Date(iso).toLocaleString(lang.value, { weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" });
}

export default function AccessLog(): preact.JSX.Element {
  const [entries, setEntries] = useState<AccessEntry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(true);

  async function load(url: string, append: boolean): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const page = await get<Page>(url);
      setEntries((previous) => (append && previous ? [...previous, ...page.results] : page.results));
      setNext(page.next ? new URL(page.next, location.origin).pathname + new URL(page.next, location.origin).search : null);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    void load("/api/v1/me/access-log/?page_size=50", false);
  }, []);

  return (
    <main id="main">
      <ScreenHeading>{t("access.title")}</ScreenHeading>
      <p>{t("access.intro")}</p>
      {entries === null && busy && <Loading />}
      {error !== null && <ErrorList errors={errorsOf(error)} />}
      {entries !== null && (
        <Card>
          {entries.length === 0 ? (
            <p>{t("access.none")}</p>
          ) : (
            <ul class="plain access-log">
              {entries.map((entry, index) => (
                <li key={`${entry.at}-${index}`} data-testid="access-entry">
                  <p class="muted small">
                    <time dateTime={entry.at}>{when(entry.at)}</time>
                  </p>
                  <p>
                    {describeAccess(entry)}
                    {entry.via === "admin" && ` ${t("access.via_admin")}`}
                    {entry.device && ` ${t("access.device", { device: entry.device })}`}
                  </p>
                </li>
              ))}
            </ul>
          )}
          {next && (
            <button type="button" disabled={busy} onClick={() => void load(next, true)}>
              {t("access.more")}
            </button>
          )}
        </Card>
      )}
    </main>
  );
}
