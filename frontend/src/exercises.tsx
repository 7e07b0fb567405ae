import { useState } from "preact/hooks";
import { get } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useLoad } from "./components";
import { t } from "./i18n";
import { me, outbox } from "./session";
import { useSignal } from "./state";
import { uuid4 } from "./uuid";

interface PlanAssignment {
  assignment: string;
  exercise: { id: string; name: string; instructions: string[]; media_url: string };
  dose: { sets: number; reps: number | null; hold_seconds: number | null; load_kg: number | null };
  notes: string;
  sessions_per_day: number;
  sessions_logged: number;
  remaining: number;
  done: boolean;
}

interface PlanDay {
  date: string;
  post_op_day: number;
  assignments: PlanAssignment[];
}

function dose(item: PlanAssignment): string {
  const base =
    item.dose.hold_seconds !== null
      ? t("exercises.dose_hold", { sets: item.dose.sets, hold: item.dose.hold_seconds })
      : t("exercises.dose_reps", { sets: item.dose.sets, reps: item.dose.reps ?? 0 });
  return item.dose.load_kg !== null ? `${base} ${t("exercises.load", { load: item.dose.load_kg })}` : base;
}

function ExerciseCard(props: { episode: string; item: PlanAssignment; waiting: number }): preact.JSX.Element {
  const user = useSignal(me);
  const { item } = props;
  // Sessions logged on this phone but not sent yet count too (the plan may come from the cache).
  const [logged, setLogged] = useState(item.sessions_logged + props.waiting);
  const [pain, setPain] = useState("");
  const [difficulty, setDifficulty] = useState<"" | "easy" | "ok" | "hard">("");
  const [message, setMessage] = useState<{ text: string; tone: "ok" | "warn" } | null>(null);
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);
  const base = `ex-${item.assignment}`;

  async function log(): Promise<void> {
    if (!user) return;
    setBusy(true);
    setErrors(null);
    const id = uuid4();
    const body: Record<string, unknown> = {
      id,
      assignment: item.assignment,
      performed_at: new Date().toISOString(),
      sets_completed: item.dose.sets,
      reps_completed: item.dose.reps,
      hold_seconds: item.dose.hold_seconds,
      pain_during: pain === "" ? null : Number(pain),
      difficulty: difficulty === "" ? null : difficulty,
    };
    try {
      await outbox.enqueue({ id, user: user.id, kind: "exercise_log", url: `/api/v1/episodes/${props.episode}/exercise-logs/`, body });
      const result = await outbox.flush();
      if (result.rejected.includes(id)) {
        const stored = (await outbox.items()).find((candidate) => candidate.id === id);
        await outbox.discard(id);
        setErrors(stored?.errors ?? { non_field_errors: [t("error.generic")] });
        return;
      }
      setLogged((n) => n + 1);
      setMessage(result.sent.includes(id) ? { text: t("exercises.logged"), tone: "ok" } : { text: t("exercises.queued"), tone: "warn" });
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  const planned = item.sessions_per_day;
  return (
    <Card title={item.exercise.name} headingLevel={2} class="exercise">
      <p class="dose">{dose(item)}</p>
      <p class="muted">{t("exercises.sessions", { logged: Math.min(logged, planned), planned })}</p>
      {item.notes && <p>{item.notes}</p>}
      <details>
        <summary>{t("exercises.steps")}</summary>
        <ol>
          {item.exercise.instructions.map((step) => (
            <li key={step}>{step}</li>
          ))}
        </ol>
      </details>
      {item.exercise.media_url && (
        <p>
          <a href={item.exercise.media_url} target="_blank" rel="noopener noreferrer">
            {t("exercises.media")}: {item.exercise.name}
          </a>
        </p>
      )}
      <div class="log-row">
        <div class="field">
          <label for={`${base}-pain`}>{t("exercises.pain_during")}</label>
          <select id={`${base}-pain`} value={pain} onChange={(e) => setPain((e.target as HTMLSelectElement).value)}>
            <option value="">–</option>
            {Array.from({ length: 11 }, (_, n) => (
              <option value={String(n)} key={n}>
                {n}
              </option>
            ))}
          </select>
        </div>
        <fieldset class="segmented">
          <legend>{t("exercises.difficulty")}</legend>
          {(["easy", "ok", "hard"] as const).map((value) => (
            <span key={value}>
              <input type="radio" id={`${base}-${value}`} name={`${base}-difficulty`} value={value} checked={difficulty === value} onChange={() => setDifficulty(value)} />
              <label for={`${base}-${value}`}>{t(`difficulty.${value}`)}</label>
            </span>
          ))}
        </fieldset>
      </div>
      <ErrorList errors={errors} />
      <button type="button" class="primary" disabled={busy} onClick={() => void log()} aria-describedby={`${base}-status`}>
        {t("exercises.log")}
      </button>
      <div id={`${base}-status`}>
        <Status message={message?.text ?? (logged >= planned ? t("exercises.all_done") : null)} tone={message?.tone ?? "ok"} />
      </div>
    </Card>
  );
}

async function loadPlan(episode: string): Promise<{ plan: PlanDay; waiting: Map<string, number> }> {
  const [plan, items] = await Promise.all([get<PlanDay>(`/api/v1/episodes/${episode}/plan/today/`), outbox.items()]);
  const waiting = new Map<string, number>();
  for (const item of items) {
    const assignment = item.body.assignment;
    if (item.kind === "exercise_log" && item.state === "pending" && typeof assignment === "string") {
      waiting.set(assignment, (waiting.get(assignment) ?? 0) + 1);
    }
  }
  return { plan, waiting };
}

export function Exercises(): preact.JSX.Element {
  const user = useSignal(me);
  const episode = user?.active_episode ?? null;
  const loaded = useLoad(() => (episode ? loadPlan(episode) : Promise.resolve(null)), [episode]);
  const plan = { ...loaded, data: loaded.data?.plan ?? null };
  return (
    <main id="main">
      <ScreenHeading>{t("exercises.title")}</ScreenHeading>
      {!episode && <p>{t("today.no_episode")}</p>}
      {plan.loading && <Loading />}
      {plan.error !== null && <ErrorList errors={errorsOf(plan.error)} />}
      {plan.data && plan.data.assignments.length === 0 && <p>{t("exercises.none")}</p>}
      {episode && plan.data?.assignments.map((item) => <ExerciseCard key={item.assignment} episode={episode} item={item} waiting={loaded.data?.waiting.get(item.assignment) ?? 0} />)}
    </main>
  );
}
