/**
 * The clinician dashboard (desktop and tablet; loaded on demand, never in the patient's first load).
 * Worklist: open alerts first (most severe first), acknowledge or resolve with a note; then the cohort
 * sorted by risk from GET /cohort/ (issue 5) or, while that is missing (404), the visible episodes.
 * Patient detail: pain by post-op day against the expected band where the trajectory endpoint exists,
 * the check-in history with notes, and who viewed the record (the care team: staff.tsx EpisodeAccessCard).
 */
import { useState } from "preact/hooks";
import { ApiError, get, post } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useId, useLoad } from "./components";
import { formatTime, t, type MessageKey } from "./i18n";
import { fromCheckIns, fromTrajectory, PainTable, ProgressChart, type ProgressData } from "./progress";
import { me } from "./session";
import { useSignal } from "./state";
import { codeLabel, ts, type StaffKey } from "./i18n-staff";
import { PlanEditor, RestrictionsEditor } from "./plan";
import { AuditCard, EpisodeAccessCard } from "./staff";

interface Person {
  id: string;
  name: string;
}

interface Alert {
  id: string;
  episode: string;
  patient: Person;
  post_op_day: number;
  rule: string;
  severity: "urgent" | "high" | "moderate" | "low";
  state: "open" | "acknowledged" | "resolved";
  reason: string;
  raised_at: string;
}

interface EpisodeRow {
  id: string;
  patient: Person;
  procedure_name: string;
  post_op_day: number;
  status: string;
  why?: string;
}

interface CohortRow {
  episode?: string;
  id?: string;
  patient?: Person;
  patient_name?: string;
  post_op_day?: number;
  status?: string;
  procedure?: string;
  procedure_name?: string;
  reasons?: { text?: string; level?: string }[];
}

interface CheckIn {
  id: string;
  local_date: string;
  recorded_at: string;
  axial_pain: number;
  limb_pain: number;
  walking_minutes: number | null;
  red_flags: string[];
  note: string;
}

const SEVERITY_ORDER = { urgent: 0, high: 1, moderate: 2, low: 3 } as const;

function AlertRow(props: { alert: Alert; onChange: () => void }): preact.JSX.Element {
  const { alert } = props;
  const noteId = useId("alert-note");
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  async function act(action: "acknowledge" | "resolve"): Promise<void> {
    if (action === "resolve" && !note.trim()) {
      setErrors({ note: [t("clinic.note_required")] });
      return;
    }
    setBusy(true);
    setErrors(null);
    try {
      await post(`/api/v1/alerts/${alert.id}/${action}/`, { note: note.trim() });
      props.onChange();
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li class={`alert alert-${alert.severity}`} data-testid="alert-row">
      <div>
        <strong>
          <a href={`/app/clinic/episodes/${alert.episode}/`}>{alert.patient.name}</a>
        </strong>{" "}
        <span class={`badge badge-${alert.severity}`}>{ts(`severity.${alert.severity}` as StaffKey)}</span> <span class="muted">{ts(`alert_state.${alert.state}` as StaffKey)}</span>
        <p>{alert.reason}</p>
        <p class="muted">
          {t("clinic.day", { day: alert.post_op_day })} · {formatTime(alert.raised_at)}
        </p>
      </div>
      <div class="field">
        <label for={noteId}>{t("clinic.note")}</label>
        <input id={noteId} value={note} maxLength={2000} onInput={(e) => setNote((e.target as HTMLInputElement).value)} />
      </div>
      <div class="actions">
        {alert.state === "open" && (
          <button type="button" disabled={busy} onClick={() => void act("acknowledge")}>
            {t("clinic.acknowledge")}
          </button>
        )}
        <button type="button" class="primary" disabled={busy} onClick={() => void act("resolve")}>
          {t("clinic.resolve")}
        </button>
      </div>
      <ErrorList errors={errors} labels={{ note: t("clinic.note") }} />
    </li>
  );
}

async function loadPatients(): Promise<{ rows: EpisodeRow[]; fromCohort: boolean }> {
  try {
    const cohort = await get<{ results?: CohortRow[] } | CohortRow[]>("/api/v1/cohort/");
    const rows = Array.isArray(cohort) ? cohort : (cohort.results ?? []);
    return {
      fromCohort: true,
      rows: rows.map((row) => ({
        id: row.episode ?? row.id ?? "",
        patient: row.patient ?? { id: "", name: row.patient_name ?? "" },
        procedure_name: row.procedure_name ?? row.procedure ?? "",
        post_op_day: row.post_op_day ?? 0,
        status: row.status ?? "",
        why: row.reasons?.map((r) => r.text ?? "").filter(Boolean).join(" ") ?? "",
      })),
    };
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  const page = await get<{ results: EpisodeRow[] }>("/api/v1/episodes/?page_size=200");
  return { rows: page.results, fromCohort: false };
}

async function loadAlerts(): Promise<Alert[]> {
  try {
    const page = await get<{ results: Alert[] }>("/api/v1/alerts/?page_size=200");
    return page.results
      .filter((a) => a.state !== "resolved")
      .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || b.raised_at.localeCompare(a.raised_at));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return [];
    throw error;
  }
}

export function Worklist(): preact.JSX.Element {
  const alerts = useLoad(loadAlerts, []);
  const patients = useLoad(loadPatients, []);
  return (
    <main id="main" class="wide">
      <ScreenHeading>{t("clinic.title")}</ScreenHeading>
      <Card title={t("clinic.alerts")}>
        {alerts.loading && !alerts.data && <Loading />}
        {alerts.error !== null && <ErrorList errors={errorsOf(alerts.error)} />}
        {alerts.data && alerts.data.length === 0 && <p>{t("clinic.no_alerts")}</p>}
        <ul class="plain">
          {alerts.data?.map((alert) => (
            <AlertRow key={alert.id} alert={alert} onChange={alerts.reload} />
          ))}
        </ul>
      </Card>
      <Card title={t("clinic.patients")}>
        {patients.loading && <Loading />}
        {patients.error !== null && <ErrorList errors={errorsOf(patients.error)} />}
        {patients.data && !patients.data.fromCohort && <p class="muted">{t("clinic.cohort_missing")}</p>}
        {patients.data && (
          <table>
            <thead>
              <tr>
                <th scope="col">{t("clinic.patients")}</th>
                <th scope="col">{t("progress.day")}</th>
                <th scope="col">{t("clinic.state")}</th>
              </tr>
            </thead>
            <tbody>
              {patients.data.rows.map((row) => (
                <tr key={row.id}>
                  <td>
                    <a href={`/app/clinic/episodes/${row.id}/`}>{row.patient.name}</a> <span class="muted">{row.procedure_name}</span>
                  </td>
                  <td>{row.post_op_day}</td>
                  <td>
                    {row.status && codeLabel("status", row.status)}
                    {row.why && <span class="muted"> · {row.why}</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </main>
  );
}

async function loadDetail(episode: string): Promise<{ episode: EpisodeRow & { surgery_date: string }; checkins: CheckIn[]; progress: ProgressData }> {
  // A clinic admin sees the episode but not its clinical data (404): show what there is.
  const notAllowed = (error: unknown): boolean => error instanceof ApiError && (error.status === 403 || error.status === 404);
  const [detail, page] = await Promise.all([
    get<EpisodeRow & { surgery_date: string }>(`/api/v1/episodes/${episode}/`),
    get<{ results: CheckIn[] }>(`/api/v1/episodes/${episode}/check-ins/?page_size=200`).catch((error: unknown) => {
      if (notAllowed(error)) return { results: [] as CheckIn[] };
      throw error;
    }),
  ]);
  let progress: ProgressData | null = null;
  try {
    progress = fromTrajectory(await get<unknown>(`/api/v1/episodes/${episode}/trajectory/`));
  } catch (error) {
    if (!notAllowed(error)) throw error;
  }
  return { episode: detail, checkins: page.results, progress: progress ?? fromCheckIns(page.results, detail.surgery_date) };
}

export function PatientDetail(props: { episode: string }): preact.JSX.Element {
  const user = useSignal(me);
  const role = user?.role;
  const detail = useLoad(() => loadDetail(props.episode), [props.episode]);
  const [restrictionsKey, setRestrictionsKey] = useState(0);
  const data = detail.data;
  return (
    <main id="main" class="wide">
      <p>
        <a href="/app/clinic/">{t("clinic.back")}</a>
      </p>
      <ScreenHeading>{data ? data.episode.patient.name : t("clinic.detail")}</ScreenHeading>
      {detail.loading && <Loading />}
      {detail.error !== null && <ErrorList errors={errorsOf(detail.error)} />}
      {data && (
        <>
          <p class="lead">
            {data.episode.procedure_name} · {t("clinic.day", { day: data.episode.post_op_day })}
          </p>
          <Card title={t("clinic.pain_chart")}>
            {data.progress.points.length > 0 ? <ProgressChart data={data.progress} label={t("clinic.pain_chart")} /> : <p>{t("clinic.no_checkins")}</p>}
            {!data.progress.hasBand && <Status message={t("progress.band_missing")} />}
            <PainTable points={data.progress.points} caption={t("clinic.table")} />
          </Card>
          <PlanEditor
            episode={props.episode}
            canEdit={role === "physiotherapist" || role === "surgeon"}
            canOverride={role === "surgeon"}
            postOpDay={data.episode.post_op_day}
            onRestrictions={() => setRestrictionsKey((n) => n + 1)}
          />
          <RestrictionsEditor key={restrictionsKey} episode={props.episode} canEdit={role === "surgeon"} />
          {role === "clinic_admin" && <AuditCard episode={props.episode} />}
          {(role === "surgeon" || role === "physiotherapist") && <EpisodeAccessCard episode={props.episode} />}
          <Card title={t("clinic.checkins")}>
            {data.checkins.length === 0 ? (
              <p>{t("clinic.no_checkins")}</p>
            ) : (
              <ul class="plain">
                {data.checkins.map((c) => (
                  <li key={c.id} class="checkin-row">
                    <strong>{formatTime(c.recorded_at)}</strong> · {t("checkin.axial_pain")} {c.axial_pain} · {t("checkin.limb_pain")} {c.limb_pain}
                    {c.walking_minutes !== null && ` · ${t("checkin.walking")} ${c.walking_minutes}`}
                    {c.red_flags.length > 0 && (
                      <ul>
                        {c.red_flags.map((code) => (
                          <li key={code} class="flag-text">
                            {t(`flag.${code}` as MessageKey)}
                          </li>
                        ))}
                      </ul>
                    )}
                    {c.note && <p>{c.note}</p>}
                  </li>
                ))}
              </ul>
            )}
          </Card>
        </>
      )}
    </main>
  );
}

export default { Worklist, PatientDetail };
