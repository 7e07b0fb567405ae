/**
 * Clinician screens loaded with the dashboard: enrolment (a client UUID, so a double click or a retry
 * enrols once), the cohort outcomes, and the audit of who opened a record (clinic admins). The plan and
 * restrictions editors are in plan.tsx. Words come from i18n-staff.ts (English and Spanish).
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post } from "./api";
import { LineChart } from "./chart";
import { Card, ErrorList, Loading, ScreenHeading, errorsOf, useLoad } from "./components";
import { lang } from "./i18n";
import { partOf } from "./accesslog";
import { codeLabel, ts, type StaffKey } from "./i18n-staff";
import { navigate } from "./router";
import { uuid4 } from "./uuid";

export const PROCEDURES = ["lumbar_microdiscectomy", "tubular_discectomy", "full_endoscopic_discectomy", "mis_lumbar_decompression", "mis_tlif", "acdf"] as const;

const procedureLabel = (code: string): string => ts(`procedure.${code}` as StaffKey);

export function Enrol(): preact.JSX.Element {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const [form, setForm] = useState({
    email: "",
    name: "",
    date_of_birth: "",
    time_zone: zone,
    preferred_language: "en",
    procedure: "lumbar_microdiscectomy",
    levels: "L4-L5",
    surgery_date: "",
  });
  const [id] = useState(uuid4);
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof typeof form) => (e: { currentTarget: { value: string } }) => setForm({ ...form, [name]: e.currentTarget.value });

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      await post("/api/v1/episodes/", {
        id,
        patient: {
          email: form.email.trim(),
          name: form.name.trim(),
          date_of_birth: form.date_of_birth,
          time_zone: form.time_zone.trim(),
          preferred_language: form.preferred_language,
        },
        procedure: form.procedure,
        levels: form.levels.split(",").map((l) => l.trim()).filter(Boolean),
        surgery_date: form.surgery_date,
      });
      navigate(`/app/clinic/episodes/${id}/`);
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  const field = (name: keyof typeof form, label: StaffKey, type: "text" | "email" | "date" = "text") => (
    <div class="field">
      <label for={`enrol-${name}`}>{ts(label)}</label>
      {type === "email" ? (
        <input id={`enrol-${name}`} type="email" value={form[name]} onInput={set(name)} required />
      ) : type === "date" ? (
        <input id={`enrol-${name}`} type="date" value={form[name]} onInput={set(name)} required />
      ) : (
        <input id={`enrol-${name}`} type="text" value={form[name]} onInput={set(name)} required />
      )}
    </div>
  );
  return (
    <main id="main" class="wide">
      <ScreenHeading>{ts("enrol.title")}</ScreenHeading>
      <Card>
        <form onSubmit={submit} noValidate aria-label={ts("enrol.title")}>
          {field("name", "enrol.name")}
          {field("email", "enrol.email", "email")}
          {field("date_of_birth", "enrol.dob", "date")}
          {field("time_zone", "enrol.zone")}
          <div class="field">
            <label for="enrol-language">{ts("enrol.language")}</label>
            <select id="enrol-language" value={form.preferred_language} onChange={set("preferred_language")}>
              <option value="en">English</option>
              <option value="es">Español</option>
            </select>
          </div>
          <div class="field">
            <label for="enrol-procedure">{ts("enrol.procedure")}</label>
            <select id="enrol-procedure" value={form.procedure} onChange={set("procedure")}>
              {PROCEDURES.map((code) => (
                <option key={code} value={code}>
                  {procedureLabel(code)}
                </option>
              ))}
            </select>
          </div>
          {field("levels", "enrol.levels")}
          {field("surgery_date", "enrol.surgery_date", "date")}
          <ErrorList
            errors={errors}
            labels={{
              "patient.email": ts("enrol.email"),
              "patient.name": ts("enrol.name"),
              "patient.date_of_birth": ts("enrol.dob"),
              "patient.time_zone": ts("enrol.zone"),
              procedure: ts("enrol.procedure"),
              levels: ts("enrol.levels"),
              surgery_date: ts("enrol.surgery_date"),
            }}
          />
          <button type="submit" class="primary" disabled={busy}>
            {ts("enrol.submit")}
          </button>
        </form>
      </Card>
    </main>
  );
}

interface Outcomes {
  procedure: string;
  episodes: number;
  pain: { post_op_day: number; n: number; axial_median: number | null; axial_q1: number | null; axial_q3: number | null; axial_center: number | null; axial_upper: number | null }[];
  milestones: { key: string; label: string; met: number; missed: number; pending: number; rate: number | null }[];
  questionnaire_timepoint: string;
  thresholds: { label: string; eligible: number; reached: number; share: number | null }[];
}

const percent = (value: number | null): string => (value === null ? "–" : `${Math.round(value * 100)} %`);

export function CohortOutcomes(): preact.JSX.Element {
  const [procedure, setProcedure] = useState<string>(PROCEDURES[0]);
  const outcomes = useLoad(async () => {
    try {
      return await get<Outcomes>(`/api/v1/cohort/outcomes/?procedure=${procedure}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }, [procedure]);
  const data = outcomes.data;
  return (
    <main id="main" class="wide">
      <ScreenHeading>{ts("outcomes.title")}</ScreenHeading>
      <div class="field">
        <label for="outcomes-procedure">{ts("enrol.procedure")}</label>
        <select id="outcomes-procedure" value={procedure} onChange={(e) => setProcedure((e.target as HTMLSelectElement).value)}>
          {PROCEDURES.map((code) => (
            <option key={code} value={code}>
              {procedureLabel(code)}
            </option>
          ))}
        </select>
      </div>
      {outcomes.loading && <Loading />}
      {outcomes.error !== null && <ErrorList errors={errorsOf(outcomes.error)} />}
      {!outcomes.loading && outcomes.error === null && !data && <p>{ts("outcomes.missing")}</p>}
      {data && (
        <>
          <p class="lead">{ts("outcomes.episodes", { n: data.episodes })}</p>
          <Card title={ts("outcomes.pain_title")}>
            {data.pain.length > 0 ? (
              <LineChart
                label={ts("outcomes.pain_label")}
                days={data.pain.map((p) => p.post_op_day)}
                series={[
                  { label: ts("outcomes.median"), values: data.pain.map((p) => p.axial_median), color: "#0b5394" },
                  { label: "Q1", values: data.pain.map((p) => p.axial_q1), color: "#6b8fb5", dash: [4, 4] },
                  { label: "Q3", values: data.pain.map((p) => p.axial_q3), color: "#6b8fb5", dash: [4, 4] },
                  { label: ts("outcomes.expected"), values: data.pain.map((p) => p.axial_center), color: "#3d4a55", dash: [2, 4] },
                  { label: ts("outcomes.expected_upper"), values: data.pain.map((p) => p.axial_upper), color: "#3d4a55", dash: [10, 4] },
                ]}
              />
            ) : (
              <p>{ts("outcomes.no_checkins")}</p>
            )}
          </Card>
          <Card title={ts("outcomes.milestones")}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{ts("outcomes.milestone")}</th>
                  <th scope="col">{ts("outcomes.met")}</th>
                  <th scope="col">{ts("outcomes.missed")}</th>
                  <th scope="col">{ts("outcomes.pending")}</th>
                  <th scope="col">{ts("outcomes.rate")}</th>
                </tr>
              </thead>
              <tbody>
                {data.milestones.map((m) => (
                  <tr key={m.key}>
                    <td>{m.label}</td>
                    <td>{m.met}</td>
                    <td>{m.missed}</td>
                    <td>{m.pending}</td>
                    <td>{percent(m.rate)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
          <Card title={ts("outcomes.thresholds", { timepoint: data.questionnaire_timepoint })}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{ts("outcomes.threshold")}</th>
                  <th scope="col">{ts("outcomes.reached")}</th>
                  <th scope="col">{ts("outcomes.share")}</th>
                </tr>
              </thead>
              <tbody>
                {data.thresholds.map((th) => (
                  <tr key={th.label}>
                    <td>{th.label}</td>
                    <td>
                      {th.reached} / {th.eligible}
                    </td>
                    <td>{percent(th.share)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        </>
      )}
    </main>
  );
}

interface AuditEvent {
  id: string;
  at: string;
  actor: { name: string; role: string } | null;
  actor_role: string;
  action: string;
  resource: string;
  status_code: number;
}

/** Who viewed or changed this episode's records (clinic admins: GET /audit/?episode=). */
export function AuditCard(props: { episode: string }): preact.JSX.Element | null {
  const events = useLoad(async () => {
    try {
      const data = await get<AuditEvent[] | { results: AuditEvent[] }>(`/api/v1/audit/?episode=${props.episode}&page_size=50`);
      return Array.isArray(data) ? data : data.results;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 403 || error.status === 404)) return null;
      throw error;
    }
  }, [props.episode]);
  if (events.data === null && !events.loading && events.error === null) return null;
  return (
    <Card title={ts("audit.title")}>
      {events.loading && <Loading />}
      {events.error !== null && <ErrorList errors={errorsOf(events.error)} />}
      {events.data && events.data.length === 0 && <p>{ts("audit.none")}</p>}
      {events.data && events.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{ts("audit.when")}</th>
              <th scope="col">{ts("audit.who")}</th>
              <th scope="col">{ts("audit.what")}</th>
            </tr>
          </thead>
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.at).toLocaleString(lang.value)}</td>
                <td>
                  {e.actor?.name ?? "–"} <span class="muted">({codeLabel("role", e.actor_role)})</span>
                </td>
                <td>
                  {codeLabel("action", e.action)} {codeLabel("part", partOf(e.resource))}
                  {e.status_code === 403 ? ` ${ts("audit.refused")}` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

interface EpisodeAccessEntry {
  id: string;
  at: string;
  who: { id: string; name: string; role: string };
  role: string;
  action: string;
  resource: string;
  via: "app" | "admin";
}

interface EpisodeAccessPage {
  count: number;
  next: string | null;
  results: EpisodeAccessEntry[];
}

/** "Who viewed this record" for the episode's care team (GET /episodes/{id}/access-log/?exclude_self=true):
 * other staff's reads and changes of this episode's records, newest first, in words ("Sam Lee,
 * physiotherapist, listed check-ins"), with "Show older" for the next page. Hidden for anyone the
 * server refuses (403/404). */
export function EpisodeAccessCard(props: { episode: string }): preact.JSX.Element | null {
  const [entries, setEntries] = useState<EpisodeAccessEntry[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [hidden, setHidden] = useState(false);
  const [busy, setBusy] = useState(true);

  async function load(url: string, append: boolean): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const page = await get<EpisodeAccessPage>(url);
      setEntries((previous) => (append && previous ? [...previous, ...page.results] : page.results));
      setNext(page.next ? new URL(page.next, location.origin).pathname + new URL(page.next, location.origin).search : null);
    } catch (failure) {
      if (failure instanceof ApiError && (failure.status === 403 || failure.status === 404)) setHidden(true);
      else setError(failure);
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    setEntries(null);
    setHidden(false);
    // The viewer's own reads are left out: each visit to this screen makes several, which would push
    // everyone else's off the first page.
    void load(`/api/v1/episodes/${props.episode}/access-log/?page_size=20&exclude_self=true`, false);
  }, [props.episode]);

  if (hidden) return null;
  return (
    <Card title={ts("log.title")}>
      <p class="muted">{ts("log.intro")}</p>
      {entries === null && busy && <Loading />}
      {error !== null && <ErrorList errors={errorsOf(error)} />}
      {entries !== null && entries.length === 0 && <p>{ts("log.none")}</p>}
      {entries !== null && entries.length > 0 && (
        <ul class="plain access-log">
          {entries.map((e) => (
            <li key={e.id} data-testid="episode-access-entry">
              <time class="muted small" dateTime={e.at}>
                {new Date(e.at).toLocaleString(lang.value, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}
              </time>{" "}
              <span>
                {e.who.name}, {codeLabel("role", e.role)}, {codeLabel("action", e.action)} {codeLabel("part", partOf(e.resource))}
                {e.via === "admin" && ` ${ts("log.via_admin")}`}
              </span>
            </li>
          ))}
        </ul>
      )}
      {next && (
        <button type="button" disabled={busy} onClick={() => void load(next, true)}>
          {ts("log.more")}
        </button>
      )}
    </Card>
  );
}
