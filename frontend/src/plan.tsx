/**
 * The exercise plan and the restrictions on the patient detail (loaded with the dashboard).
 * - Physiotherapists and surgeons add exercises from the library and edit an assignment's dose (sets,
 *   reps, hold seconds, load), sessions per day, days of the week, start and end post-op day and notes
 *   (PATCH sends only what changed, so an unchanged save writes no revision).
 * - The restriction guard's 400 (for example "Conflicts with the restriction 'no loaded_lifting until
 *   post-op day 42'") is shown inline, announced by role="alert", next to the form that caused it.
 * - The surgeon (only they may change restrictions, Action.SET_RESTRICTIONS) can then record an
 *   override for that exercise and movement with a reason: the whole restrictions document is PUT back
 *   with the override added (the API's contract), then the refused write is sent again.
 * Every add carries a client UUID, so a double click or a retry stores one assignment.
 */
import { useState } from "preact/hooks";
import { get, post, request } from "./api";
import { Card, ErrorList, Loading, Status, errorsOf, useId, useLoad } from "./components";
import { codeLabel, ts, type StaffKey } from "./i18n-staff";
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

export interface Assignment {
  id: string;
  exercise: { id: string; name: string; movement_tags: string[] };
  dose: { sets: number; reps: number | null; hold_seconds: number | null; load_kg: number | null; sessions_per_day: number };
  schedule: { days_of_week: string[]; start_day: number; end_day: number | null };
  active: boolean;
  notes: string;
}

interface Override {
  exercise: string;
  exercise_name?: string;
  tag: string;
  reason: string;
}

export interface Restrictions {
  lifting_limit_kg: number | null;
  lifting_limit_until_day: number | null;
  forbidden_movements: { tag: string; until_day: number }[];
  overrides: Override[];
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

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

export function tagLabel(tag: string): string {
  return (MOVEMENT_TAGS as readonly string[]).includes(tag) ? ts(`tag.${tag}` as StaffKey) : tag.replace(/_/g, " ");
}

/** A library exercise as the "Add an exercise" list shows it: name, region, phase and what it loads, in words. */
export function exerciseOption(x: Pick<Exercise, "name" | "region" | "phase" | "movement_tags">): string {
  const params = { name: x.name, region: codeLabel("region", x.region), phase: codeLabel("phase", x.phase) };
  return x.movement_tags.length ? ts("plan.option_tags", { ...params, tags: x.movement_tags.map(tagLabel).join(", ") }) : ts("plan.option", params);
}

function optionalNumber(raw: string): number | null {
  return raw.trim() === "" ? null : Number(raw);
}

const text = (value: number | null | undefined): string => (value === null || value === undefined ? "" : String(value));

/** The API's input fields, named as the form's labels say them. */
function fieldLabels(): Record<string, string> {
  return {
    exercise: ts("plan.exercise"),
    sets: ts("plan.sets"),
    reps: ts("plan.reps"),
    hold_seconds: ts("plan.hold"),
    load_kg: ts("plan.load"),
    sessions_per_day: ts("plan.sessions"),
    days_of_week: ts("plan.days"),
    start_day: ts("plan.start_day"),
    end_day: ts("plan.end_day"),
    notes: ts("plan.notes"),
  };
}

/** Tags of `exercise` that the restrictions forbid on `startDay` and no override releases: what the
 * guard refuses (recovery/rehab/restrictions.py restriction_conflicts, "until day N" inclusive). */
export function blockingTags(restrictions: Restrictions, exercise: { id: string; movement_tags: string[] }, startDay: number): string[] {
  return exercise.movement_tags.filter(
    (tag) =>
      restrictions.forbidden_movements.some((m) => m.tag === tag && m.until_day >= startDay) &&
      !restrictions.overrides.some((o) => o.exercise === exercise.id && o.tag === tag),
  );
}

/** The restrictions document as PUT wants it (the GET adds names and authors to each override). */
export function restrictionsBody(value: Restrictions, extra: Override[] = []): Record<string, unknown> {
  return {
    lifting_limit_kg: value.lifting_limit_kg,
    lifting_limit_until_day: value.lifting_limit_until_day,
    forbidden_movements: value.forbidden_movements.map((m) => ({ tag: m.tag, until_day: m.until_day })),
    overrides: [...value.overrides, ...extra].map((o) => ({ exercise: o.exercise, tag: o.tag, reason: o.reason })),
    source: value.source || "Surgeon's instruction",
  };
}

/**
 * Offered to the surgeon after the guard refused a write: record why this exercise may load the
 * forbidden movement(s), then send the write again.
 */
function OverrideForm(props: { episode: string; exercise: { id: string; name: string }; tags: string[]; retry: () => Promise<boolean>; onRecorded: () => void }): preact.JSX.Element {
  const reasonId = useId("override-reason");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  async function record(event: Event): Promise<void> {
    event.preventDefault();
    if (!reason.trim()) {
      setErrors({ reason: [ts("override.reason_required")] });
      return;
    }
    setBusy(true);
    setErrors(null);
    try {
      // Read the current document just before replacing it, so nothing the surgeon set since is lost.
      const current = await get<Restrictions>(`/api/v1/episodes/${props.episode}/restrictions/`);
      const added = props.tags.map((tag) => ({ exercise: props.exercise.id, tag, reason: reason.trim() }));
      await request("PUT", `/api/v1/episodes/${props.episode}/restrictions/`, restrictionsBody(current, added));
      props.onRecorded();
      await props.retry();
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form class="override" onSubmit={record} noValidate aria-label={ts("override.title")}>
      <h4>{ts("override.title")}</h4>
      <p>{ts("override.intro", { exercise: props.exercise.name, movements: props.tags.map(tagLabel).join(", ") })}</p>
      <div class="field">
        <label for={reasonId}>{ts("override.reason")}</label>
        <textarea id={reasonId} rows={2} maxLength={500} value={reason} onInput={(e) => setReason((e.target as HTMLTextAreaElement).value)} />
      </div>
      <ErrorList errors={errors} labels={{ reason: ts("override.reason") }} />
      <button type="submit" class="primary" disabled={busy}>
        {ts("override.submit")}
      </button>
    </form>
  );
}

interface Refusal {
  errors: Record<string, string[]>;
  tags: string[];
}

/** After a 400: which movements the surgeon could override (none for a physio or a lifting limit). */
async function refusalOf(error: unknown, episode: string, exercise: { id: string; movement_tags: string[] }, startDay: number, canOverride: boolean): Promise<Refusal> {
  const errors = errorsOf(error);
  if (!canOverride || !errors.exercise) return { errors, tags: [] };
  try {
    const restrictions = await get<Restrictions>(`/api/v1/episodes/${episode}/restrictions/`);
    return { errors, tags: blockingTags(restrictions, exercise, startDay) };
  } catch {
    return { errors, tags: [] };
  }
}

function AssignmentEditor(props: { episode: string; assignment: Assignment; canOverride: boolean; onSaved: () => void; onCancel: () => void; onRestrictions: () => void }): preact.JSX.Element {
  const a = props.assignment;
  const id = useId("edit");
  const [form, setForm] = useState({
    sets: text(a.dose.sets),
    reps: text(a.dose.reps),
    hold_seconds: text(a.dose.hold_seconds),
    load_kg: text(a.dose.load_kg),
    sessions_per_day: text(a.dose.sessions_per_day),
    start_day: text(a.schedule.start_day),
    end_day: text(a.schedule.end_day),
    notes: a.notes,
  });
  const [days, setDays] = useState<string[]>(a.schedule.days_of_week);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof typeof form) => (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value });

  function changes(): Record<string, unknown> {
    const next: Record<string, unknown> = {
      sets: Number(form.sets),
      reps: optionalNumber(form.reps),
      hold_seconds: optionalNumber(form.hold_seconds),
      load_kg: optionalNumber(form.load_kg),
      sessions_per_day: Number(form.sessions_per_day),
      days_of_week: WEEKDAYS.filter((d) => days.includes(d)),
      start_day: Number(form.start_day),
      end_day: optionalNumber(form.end_day),
      notes: form.notes,
    };
    const before: Record<string, unknown> = {
      sets: a.dose.sets,
      reps: a.dose.reps,
      hold_seconds: a.dose.hold_seconds,
      load_kg: a.dose.load_kg,
      sessions_per_day: a.dose.sessions_per_day,
      days_of_week: WEEKDAYS.filter((d) => a.schedule.days_of_week.includes(d)),
      start_day: a.schedule.start_day,
      end_day: a.schedule.end_day,
      notes: a.notes,
    };
    return Object.fromEntries(Object.entries(next).filter(([key, value]) => JSON.stringify(value) !== JSON.stringify(before[key])));
  }

  /** True when saved. */
  async function save(): Promise<boolean> {
    setBusy(true);
    setRefusal(null);
    try {
      const body = changes();
      if (Object.keys(body).length > 0) await request("PATCH", `/api/v1/episodes/${props.episode}/assignments/${a.id}/`, body);
      props.onSaved();
      return true;
    } catch (error) {
      setRefusal(await refusalOf(error, props.episode, a.exercise, Number(form.start_day), props.canOverride));
      return false;
    } finally {
      setBusy(false);
    }
  }

  const field = (name: keyof typeof form, label: StaffKey, attrs: { min: number; max: number; step?: string }) => (
    <div class="field">
      <label for={`${id}-${name}`}>{ts(label)}</label>
      <input id={`${id}-${name}`} type="number" min={attrs.min} max={attrs.max} step={attrs.step} value={form[name]} onInput={set(name)} />
    </div>
  );
  return (
    <div class="assignment-editor">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        noValidate
        aria-label={ts("plan.edit_title", { exercise: a.exercise.name })}
      >
        <h4>{ts("plan.edit_title", { exercise: a.exercise.name })}</h4>
        <div class="grid-4">
          {field("sets", "plan.sets", { min: 1, max: 20 })}
          {field("reps", "plan.reps", { min: 1, max: 100 })}
          {field("hold_seconds", "plan.hold", { min: 1, max: 600 })}
          {field("load_kg", "plan.load", { min: 0, max: 100, step: "0.5" })}
          {field("sessions_per_day", "plan.sessions", { min: 1, max: 10 })}
          {field("start_day", "plan.start_day", { min: -30, max: 730 })}
          {field("end_day", "plan.end_day", { min: -30, max: 730 })}
        </div>
        <fieldset class="days">
          <legend>{ts("plan.days")}</legend>
          {WEEKDAYS.map((day) => (
            <label key={day} class="check">
              <input
                type="checkbox"
                checked={days.includes(day)}
                onChange={(e) => {
                  const on = (e.target as HTMLInputElement).checked;
                  setDays(on ? [...days, day] : days.filter((d) => d !== day));
                }}
              />{" "}
              {ts(`day.${day}` as StaffKey)}
            </label>
          ))}
        </fieldset>
        <div class="field">
          <label for={`${id}-notes`}>{ts("plan.notes")}</label>
          <textarea id={`${id}-notes`} rows={2} maxLength={2000} value={form.notes} onInput={set("notes")} />
        </div>
        <ErrorList errors={refusal?.errors ?? null} labels={fieldLabels()} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {ts("plan.save")}
          </button>
          <button type="button" disabled={busy} onClick={props.onCancel}>
            {ts("plan.cancel")}
          </button>
        </div>
      </form>
      {refusal && refusal.tags.length > 0 && <OverrideForm episode={props.episode} exercise={a.exercise} tags={refusal.tags} retry={save} onRecorded={props.onRestrictions} />}
    </div>
  );
}

function doseText(a: Assignment): string {
  const amount = a.dose.reps !== null ? ts("plan.reps_n", { n: a.dose.reps }) : ts("plan.hold_n", { n: a.dose.hold_seconds ?? 0 });
  const load = a.dose.load_kg !== null ? `, ${a.dose.load_kg} kg` : "";
  const window = a.schedule.end_day !== null ? ts("plan.days_from_to", { start: a.schedule.start_day, end: a.schedule.end_day }) : ts("plan.days_from", { start: a.schedule.start_day });
  const weekdays = a.schedule.days_of_week.length === 7 ? ts("plan.every_day") : a.schedule.days_of_week.map((d) => ts(`day.${d}` as StaffKey)).join(", ");
  return `${a.dose.sets} × ${amount}${load}, ${ts("plan.per_day", { n: a.dose.sessions_per_day })} · ${weekdays} · ${window}`;
}

export function PlanEditor(props: { episode: string; canEdit: boolean; canOverride: boolean; postOpDay: number; onRestrictions: () => void }): preact.JSX.Element {
  const plan = useLoad(() => get<Assignment[] | { results: Assignment[] }>(`/api/v1/episodes/${props.episode}/assignments/?active=true`), [props.episode]);
  const library = useLoad(() => (props.canEdit ? get<Exercise[] | { results: Exercise[] }>("/api/v1/exercises/?page_size=200") : Promise.resolve([])), [props.canEdit]);
  const [exercise, setExercise] = useState("");
  const [sets, setSets] = useState("2");
  const [reps, setReps] = useState("10");
  const [load, setLoad] = useState("");
  const [sessions, setSessions] = useState("1");
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [addId, setAddId] = useState(uuid4);
  const assignments = plan.data ? (Array.isArray(plan.data) ? plan.data : plan.data.results) : [];
  const exercises = library.data ? (Array.isArray(library.data) ? library.data : library.data.results) : [];
  const chosen = exercises.find((x) => x.id === exercise) ?? null;

  /** True when added. */
  async function add(): Promise<boolean> {
    if (!chosen) {
      setRefusal({ errors: { exercise: [ts("plan.choose_exercise")] }, tags: [] });
      return false;
    }
    setBusy(true);
    setRefusal(null);
    setMessage(null);
    try {
      await post(`/api/v1/episodes/${props.episode}/assignments/`, {
        id: addId,
        exercise,
        sets: Number(sets),
        reps: optionalNumber(reps),
        load_kg: optionalNumber(load),
        sessions_per_day: Number(sessions),
      });
      setMessage(ts("plan.added"));
      setAddId(uuid4());
      plan.reload();
      return true;
    } catch (error) {
      // The server starts a new assignment on today's post-op day (0 at the earliest).
      setRefusal(await refusalOf(error, props.episode, chosen, Math.max(props.postOpDay, 0), props.canOverride));
      return false;
    } finally {
      setBusy(false);
    }
  }

  async function end(id: string): Promise<void> {
    setRefusal(null);
    try {
      await request("DELETE", `/api/v1/episodes/${props.episode}/assignments/${id}/`);
      setMessage(ts("plan.ended"));
      plan.reload();
    } catch (error) {
      setRefusal({ errors: errorsOf(error), tags: [] });
    }
  }

  return (
    <Card title={ts("plan.title")}>
      {plan.loading && !plan.data && <Loading />}
      {plan.error !== null && <ErrorList errors={errorsOf(plan.error)} />}
      {plan.data && assignments.length === 0 && <p>{ts("plan.none")}</p>}
      <ul class="plain">
        {assignments.map((a) => (
          <li key={a.id} data-testid="assignment-row" class="assignment-row">
            <strong>{a.exercise.name}</strong> <span class="muted">{doseText(a)}</span>
            {a.notes && <p class="small">{a.notes}</p>}
            {props.canEdit && editing !== a.id && (
              <span class="row-actions">
                <button type="button" class="link" onClick={() => setEditing(a.id)}>
                  {ts("plan.edit")}
                  <span class="visually-hidden"> {a.exercise.name}</span>
                </button>
                <button type="button" class="link" onClick={() => void end(a.id)}>
                  {ts("plan.end")}
                  <span class="visually-hidden"> {a.exercise.name}</span>
                </button>
              </span>
            )}
            {props.canEdit && editing === a.id && (
              <AssignmentEditor
                episode={props.episode}
                assignment={a}
                canOverride={props.canOverride}
                onRestrictions={props.onRestrictions}
                onCancel={() => setEditing(null)}
                onSaved={() => {
                  setEditing(null);
                  setMessage(ts("plan.saved", { exercise: a.exercise.name }));
                  plan.reload();
                }}
              />
            )}
          </li>
        ))}
      </ul>
      {props.canEdit && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
          noValidate
          aria-label={ts("plan.add_title")}
        >
          <h3>{ts("plan.add_title")}</h3>
          <div class="field">
            <label for="plan-exercise">{ts("plan.exercise")}</label>
            <select
              id="plan-exercise"
              value={exercise}
              onChange={(e) => {
                setExercise((e.target as HTMLSelectElement).value);
                setRefusal(null);
              }}
            >
              <option value="">{ts("plan.choose")}</option>
              {exercises.map((x) => (
                <option key={x.id} value={x.id}>
                  {exerciseOption(x)}
                </option>
              ))}
            </select>
          </div>
          <div class="grid-4">
            <div class="field">
              <label for="plan-sets">{ts("plan.sets")}</label>
              <input id="plan-sets" type="number" min={1} max={20} value={sets} onInput={(e) => setSets((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-reps">{ts("plan.reps")}</label>
              <input id="plan-reps" type="number" min={1} max={100} value={reps} onInput={(e) => setReps((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-load">{ts("plan.load_optional")}</label>
              <input id="plan-load" type="number" min={0} max={100} step="0.5" value={load} onInput={(e) => setLoad((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="plan-sessions">{ts("plan.sessions")}</label>
              <input id="plan-sessions" type="number" min={1} max={10} value={sessions} onInput={(e) => setSessions((e.target as HTMLInputElement).value)} />
            </div>
          </div>
          <ErrorList errors={refusal?.errors ?? null} labels={fieldLabels()} />
          <button type="submit" class="primary" disabled={busy}>
            {ts("plan.add")}
          </button>
        </form>
      )}
      {props.canEdit && chosen && refusal && refusal.tags.length > 0 && (
        <OverrideForm episode={props.episode} exercise={chosen} tags={refusal.tags} retry={add} onRecorded={props.onRestrictions} />
      )}
      {!props.canEdit && <ErrorList errors={refusal?.errors ?? null} />}
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
      await request("PUT", `/api/v1/episodes/${props.episode}/restrictions/`, restrictionsBody(value));
      setMessage(ts("restrictions.saved"));
      setDraft(null);
      current.reload();
    } catch (error) {
      setErrors(errorsOf(error));
    }
  }

  if (!value) return <Card title={ts("restrictions.title")}>{current.loading ? <Loading /> : <ErrorList errors={errorsOf(current.error)} />}</Card>;
  const update = (patch: Partial<Restrictions>): void => setDraft({ ...value, ...patch });
  return (
    <Card title={ts("restrictions.title")}>
      <p class="muted">{ts("restrictions.source", { source: value.source })}</p>
      <ul class="plain">
        {value.forbidden_movements.map((m) => (
          <li key={m.tag}>
            {ts("restrictions.no_until", { movement: tagLabel(m.tag), day: m.until_day })}
            {props.canEdit && (
              <button type="button" class="link" onClick={() => update({ forbidden_movements: value.forbidden_movements.filter((x) => x.tag !== m.tag) })}>
                {ts("restrictions.remove")}
                <span class="visually-hidden"> {tagLabel(m.tag)}</span>
              </button>
            )}
          </li>
        ))}
        {value.lifting_limit_kg !== null && (
          <li>
            {value.lifting_limit_until_day !== null
              ? ts("restrictions.lift_until", { kg: value.lifting_limit_kg, day: value.lifting_limit_until_day })
              : ts("restrictions.lift", { kg: value.lifting_limit_kg })}
          </li>
        )}
        {value.overrides.map((o) => (
          <li key={`${o.exercise}-${o.tag}`} data-testid="override-row">
            {ts("restrictions.override", { exercise: o.exercise_name ?? o.exercise, movement: tagLabel(o.tag), reason: o.reason })}
          </li>
        ))}
      </ul>
      {props.canEdit && (
        <form onSubmit={save} noValidate aria-label={ts("restrictions.edit")}>
          <div class="grid-4">
            <div class="field">
              <label for="r-tag">{ts("restrictions.forbid")}</label>
              <select id="r-tag" value={newTag} onChange={(e) => setNewTag((e.target as HTMLSelectElement).value)}>
                {MOVEMENT_TAGS.map((tag) => (
                  <option key={tag} value={tag}>
                    {tagLabel(tag)}
                  </option>
                ))}
              </select>
            </div>
            <div class="field">
              <label for="r-until">{ts("restrictions.until")}</label>
              <input id="r-until" type="number" min={0} max={730} value={newUntil} onInput={(e) => setNewUntil((e.target as HTMLInputElement).value)} />
            </div>
            <div class="field">
              <label for="r-limit">{ts("restrictions.limit")}</label>
              <input id="r-limit" type="number" min={0} max={100} step="0.5" value={value.lifting_limit_kg ?? ""} onInput={(e) => update({ lifting_limit_kg: optionalNumber((e.target as HTMLInputElement).value) })} />
            </div>
            <div class="field">
              <label for="r-limit-until">{ts("restrictions.limit_until")}</label>
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
              {ts("restrictions.add")}
            </button>
            <button type="submit" class="primary">
              {ts("restrictions.save")}
            </button>
          </div>
          <ErrorList errors={errors} />
        </form>
      )}
      <Status message={message} />
    </Card>
  );
}
