/**
 * Clinician editing screens (loaded with the dashboard): the physiotherapist's plan editor with the
 * restriction guard's messages, the surgeon's restrictions, enrolment, and the cohort outcomes.
 * Every write sends a client UUID (assignments, episodes) or is a full PUT, so a double click or a
 * retry stores one thing. The API's 400 messages (for example "forbidden until day 42 by the
 * surgeon's restrictions") are shown as they are, announced by role="alert".
 */
import { useState } from "preact/hooks";
import { ApiError, get, post, request } from "./api";
import { LineChart } from "./chart";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useLoad } from "./components";
import { navigate } from "./router";
import { uuid4 } from "./uuid";

interface Exercise {
  id: string;
  name: string;
  region: string;
  phase: string;
  movement_tags: string[];
  default_sets: number;
  default_reps: number | null;
  default_hold_seconds: number | null;
  default_sessions_per_day: number;
}

interface Assignment {
  id: string;
  exercise: { id: string; name: string; movement_tags: string[] };
  dose: { sets: number; reps: number | null; hold_seconds: number | null; load_kg: number | null; sessions_per_day?: number };
  active: boolean;
  notes: string;
}

interface Restrictions {
  lifting_limit_kg: number | null;
  lifting_limit_until_day: number | null;
  forbidden_movements: { tag: string; until_day: number }[];
  overrides: { exercise: string; tag: string; reason: string }[];
  source: string;
}

export const MOVEMENT_TAGS = [
  "lumbar_flexion",
  "lumbar_extension",
  "lumbar_rotation",
  "loaded_lifting",
  "cervical_flexion",
  "cervical_extension",
  "cervical_rotation",
  "overhead_reaching",
  "high_impact",
  "prone_lying",
  "neural_tension",
] as const;

export const PROCEDURES = [
  ["lumbar_microdiscectomy", "Lumbar microdiscectomy"],
  ["tubular_discectomy", "Tubular discectomy"],
  ["full_endoscopic_discectomy", "Full-endoscopic discectomy"],
  ["mis_lumbar_decompression", "MIS lumbar decompression"],
  ["mis_tlif", "MIS TLIF"],
  ["acdf", "ACDF"],
] as const;

function optionalNumber(raw: string): number | null {
  return raw.trim() === "" ? null : Number(raw);
}

export function PlanEditor(props: { episode: string; canEdit: boolean }): preact.JSX.Element {
  const plan = useLoad(() => get<Assignment[] | { results: Assignment[] }>(`/api/v1/episodes/${props.episode}/assignments/?active=true`), [props.episode]);
  const library = useLoad(() => (props.canEdit ? get<Exercise[] | { results: Exercise[] }>("/api/v1/exercises/") : Promise.resolve([])), [props.canEdit]);
  const [exercise, setExercise] = useState("");
  const [sets, setSets] = useState("2");
  const [reps, setReps] = useState("10");
  const [load, setLoad] = useState("");
  const [sessions, setSessions] = useState("1");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const assignments = plan.data ? (Array.isArray(plan.data) ? plan.data : plan.data.results) : [];
  const exercises = library.data ? (Array.isArray(library.data) ? library.data : library.data.results) : [];

  async function add(event: Event): Promise<void> {
    event.preventDefault();
    if (!exercise) {
      setErrors({ exercise: ["Choose an exercise."] });
      return;
    }
    setBusy(true);
    setErrors(null);
    setMessage(null);
    try {
      await post(`/api/v1/episodes/${props.episode}/assignments/`, {
        id: uuid4(),
        exercise,
        sets: Number(sets),
        reps: optionalNumber(reps),
        load_kg: optionalNumber(load),
        sessions_per_day: Number(sessions),
      });
      setMessage("Exercise added to the plan.");
      plan.reload();
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  async function end(id: string): Promise<void> {
    setErrors(null);
    try {
      await request("DELETE", `/api/v1/episodes/${props.episode}/assignments/${id}/`);
      setMessage("Exercise ended from today.");
      plan.reload();
    } catch (error) {
      setErrors(errorsOf(error));
    }
  }

  return (
    <Card title="Exercise plan">
      {plan.loading && !plan.data && <Loading />}
      {plan.error !== null && <ErrorList errors={errorsOf(plan.error)} />}
      {plan.data && assignments.length === 0 && <p>No exercises prescribed.</p>}
      <ul class="plain">
        {assignments.map((a) => (
          <li key={a.id} data-testid="assignment-row">
            <strong>{a.exercise.name}</strong>{" "}
            <span class="muted">
              {a.dose.sets} × {a.dose.reps ?? `${a.dose.hold_seconds ?? 0} s`}
              {a.dose.load_kg !== null ? `, ${a.dose.load_kg} kg` : ""}
            </span>
            {props.canEdit && (
              <button type="button" class="link" onClick={() => void end(a.id)}>
                End<span class="visually-hidden"> {a.exercise.name}</span>
              </button>
            )}
          </li>
        ))}
      </ul>
      {props.canEdit && (
        <form onSubmit={add} noValidate aria-label="Add an exercise">
          <h3>Add an exercise</h3>
          <div class="field">
            <label for="plan-exercise">Exercise</label>
            <select id="plan-exercise" value={exercise} onChange={(e) => setExercise((e.target as HTMLSelectElement).value)}>
              <option value="">Choose…</option>
              {exercises.map((x) => (
                <option key={x.id} value={x.id}>
                  {x.name} ({x.region}, {x.phase}){x.movement_tags.length ? `: ${x.movement_tags.join(", ")}` : ""}
                </option>
              ))}
            </select>
          </div>
          <div class="grid-4">
            <div class="field">
              <label for="plan-sets">Sets</label>
              <input id="plan-sets" type="number" min={1} max={20} value={sets} onInput={(e) => setSets((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-reps">Reps</label>
              <input id="plan-reps" type="number" min={1} max={100} value={reps} onInput={(e) => setReps((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-load">Load (kg, optional)</label>
              <input id="plan-load" type="number" min={0} max={100} step="0.5" value={load} onInput={(e) => setLoad((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-sessions">Sessions per day</label>
              <input id="plan-sessions" type="number" min={1} max={10} value={sessions} onInput={(e) => setSessions((e.target as HTMLInputElement).value)} />
            </div>
          </div>
          <ErrorList errors={errors} labels={{ exercise: "Exercise", sets: "Sets", reps: "Reps", load_kg: "Load", sessions_per_day: "Sessions per day" }} />
          <button type="submit" class="primary" disabled={busy}>
            Add to plan
          </button>
        </form>
      )}
      {!props.canEdit && <ErrorList errors={errors} />}
      <Status message={message} />
    </Card>
  );
}

export function RestrictionsEditor(props: { episode: string; canEdit: boolean }): preact.JSX.Element {
  const current = useLoad(() => get<Restrictions>(`/api/v1/episodes/${props.episode}/restrictions/`), [props.episode]);
  const [draft, setDraft] = useState<Restrictions | null>(null);
  const [newTag, setNewTag] = useState<string>(MOVEMENT_TAGS[0]);
  const [newUntil, setNewUntil] = useState("42");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const value = draft ?? current.data;

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    if (!value) return;
    setErrors(null);
    setMessage(null);
    try {
      await request("PUT", `/api/v1/episodes/${props.episode}/restrictions/`, {
        lifting_limit_kg: value.lifting_limit_kg,
        lifting_limit_until_day: value.lifting_limit_until_day,
        forbidden_movements: value.forbidden_movements,
        overrides: value.overrides,
        source: value.source || "Surgeon's instruction",
      });
      setMessage("Restrictions saved.");
      setDraft(null);
      current.reload();
    } catch (error) {
      setErrors(errorsOf(error));
    }
  }

  if (!value) return <Card title="Restrictions">{current.loading ? <Loading /> : <ErrorList errors={errorsOf(current.error)} />}</Card>;
  const update = (patch: Partial<Restrictions>): void => setDraft({ ...value, ...patch });
  return (
    <Card title="Restrictions">
      <p class="muted">Source: {value.source}</p>
      <ul class="plain">
        {value.forbidden_movements.map((m) => (
          <li key={m.tag}>
            No {m.tag.replace(/_/g, " ")} until day {m.until_day}
            {props.canEdit && (
              <button type="button" class="link" onClick={() => update({ forbidden_movements: value.forbidden_movements.filter((x) => x.tag !== m.tag) })}>
                Remove<span class="visually-hidden"> {m.tag}</span>
              </button>
            )}
          </li>
        ))}
        {value.lifting_limit_kg !== null && (
          <li>
            Lift at most {value.lifting_limit_kg} kg{value.lifting_limit_until_day !== null ? ` until day ${value.lifting_limit_until_day}` : ""}
          </li>
        )}
      </ul>
      {props.canEdit && (
        <form onSubmit={save} noValidate aria-label="Edit restrictions">
          <div class="grid-4">
            <div class="field">
              <label for="r-tag">Forbid movement</label>
              <select id="r-tag" value={newTag} onChange={(e) => setNewTag((e.target as HTMLSelectElement).value)}>
                {MOVEMENT_TAGS.map((tag) => (
                  <option key={tag} value={tag}>
                    {tag.replace(/_/g, " ")}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="r-until">Until post-op day</label>
              <input id="r-until" type="number" min={0} max={730} value={newUntil} onInput={(e) => setNewUntil((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="r-limit">Lifting limit (kg)</label>
              <input id="r-limit" type="number" min={0} max={100} step="0.5" value={value.lifting_limit_kg ?? ""} onInput={(e) => update({ lifting_limit_kg: optionalNumber((e.target as HTMLInputElement).value) })} />
            </div>
            <div class="field">
              <label for="r-limit-until">Lifting limit until day</label>
              <input id="r-limit-until" type="number" min={0} max={730} value={value.lifting_limit_until_day ?? ""} onInput={(e) => update({ lifting_limit_until_day: optionalNumber((e.target as HTMLInputElement).value) })} />
            </div>
          </div>
          <div class="actions">
            <button
              type="button"
              onClick={() =>
                update({
                  forbidden_movements: [...value.forbidden_movements.filter((m) => m.tag !== newTag), { tag: newTag, until_day: Number(newUntil) }],
                })
              }
            >
              Add movement restriction
            </button>
            <button type="submit" class="primary">
              Save restrictions
            </button>
          </div>
          <ErrorList errors={errors} />
        </form>
      )}
      <Status message={message} />
    </Card>
  );
}

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

  const field = (name: keyof typeof form, label: string, type: "text" | "email" | "date" = "text") => (
    <div class="field">
      <label for={`enrol-${name}`}>{label}</label>
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
      <ScreenHeading>Enrol a patient</ScreenHeading>
      <Card>
        <form onSubmit={submit} noValidate aria-label="Enrol a patient">
          {field("name", "Patient's full name")}
          {field("email", "Patient's email", "email")}
          {field("date_of_birth", "Date of birth", "date")}
          {field("time_zone", "Time zone (for example Europe/Madrid)")}
          <div class="field">
            <label for="enrol-language">Preferred language</label>
            <select id="enrol-language" value={form.preferred_language} onChange={set("preferred_language")}>
              <option value="en">English</option>
              <option value="es">Español</option>
            </select>
          </div>
          <div class="field">
            <label for="enrol-procedure">Procedure</label>
            <select id="enrol-procedure" value={form.procedure} onChange={set("procedure")}>
              {PROCEDURES.map(([code, label]) => (
                <option key={code} value={code}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          {field("levels", "Levels (comma-separated, for example L4-L5)")}
          {field("surgery_date", "Surgery date", "date")}
          <ErrorList
            errors={errors}
            labels={{
              "patient.email": "Email",
              "patient.name": "Name",
              "patient.date_of_birth": "Date of birth",
              "patient.time_zone": "Time zone",
              procedure: "Procedure",
              levels: "Levels",
              surgery_date: "Surgery date",
            }}
          />
          <button type="submit" class="primary" disabled={busy}>
            Enrol and send the invitation
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
  const [procedure, setProcedure] = useState<string>(PROCEDURES[0][0]);
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
      <ScreenHeading>Cohort outcomes</ScreenHeading>
      <div class="field">
        <label for="outcomes-procedure">Procedure</label>
        <select id="outcomes-procedure" value={procedure} onChange={(e) => setProcedure((e.target as HTMLSelectElement).value)}>
          {PROCEDURES.map(([code, label]) => (
            <option key={code} value={code}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {outcomes.loading && <Loading />}
      {outcomes.error !== null && <ErrorList errors={errorsOf(outcomes.error)} />}
      {!outcomes.loading && outcomes.error === null && !data && <p>The outcomes view is not available on this server yet.</p>}
      {data && (
        <>
          <p class="lead">{data.episodes} episode(s)</p>
          <Card title="Back or neck pain by post-op day: median and interquartile range against the expected curve">
            {data.pain.length > 0 ? (
              <LineChart
                label="Median pain by post-op day with the interquartile range and the expected curve"
                days={data.pain.map((p) => p.post_op_day)}
                series={[
                  { label: "Median", values: data.pain.map((p) => p.axial_median), color: "#0b5394" },
                  { label: "Q1", values: data.pain.map((p) => p.axial_q1), color: "#6b8fb5", dash: [4, 4] },
                  { label: "Q3", values: data.pain.map((p) => p.axial_q3), color: "#6b8fb5", dash: [4, 4] },
                  { label: "Expected", values: data.pain.map((p) => p.axial_center), color: "#3d4a55", dash: [2, 4] },
                  { label: "Expected upper", values: data.pain.map((p) => p.axial_upper), color: "#3d4a55", dash: [10, 4] },
                ]}
              />
            ) : (
              <p>No check-ins yet.</p>
            )}
          </Card>
          <Card title="Milestones reached">
            <table>
              <thead>
                <tr>
                  <th scope="col">Milestone</th>
                  <th scope="col">Met</th>
                  <th scope="col">Missed</th>
                  <th scope="col">Pending</th>
                  <th scope="col">Rate</th>
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
          <Card title={`Questionnaire thresholds at ${data.questionnaire_timepoint}`}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Threshold</th>
                  <th scope="col">Reached / eligible</th>
                  <th scope="col">Share</th>
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
    <Card title="Who opened this record">
      {events.loading && <Loading />}
      {events.error !== null && <ErrorList errors={errorsOf(events.error)} />}
      {events.data && events.data.length === 0 && <p>No access recorded yet.</p>}
      {events.data && events.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
            </tr>
          </thead>
          <tbody>
            {events.data.map((e) => (
              <tr key={e.id}>
                <td>{new Date(e.at).toLocaleString()}</td>
                <td>
                  {e.actor?.name ?? "–"} <span class="muted">({e.actor_role})</span>
                </td>
                <td>
                  {e.action} {e.resource.replace(/^api:/, "")}
                  {e.status_code === 403 ? " (refused)" : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
