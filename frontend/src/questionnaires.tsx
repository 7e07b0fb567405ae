import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useLoad } from "./components";
import { lang, t } from "./i18n";
import { navigate } from "./router";
import { me, outbox } from "./session";
import { useSignal } from "./state";
import { uuid4 } from "./uuid";

interface Timepoint {
  timepoint: string;
  label: string;
  instrument: string | null;
  state: "upcoming" | "due" | "completed" | "missed";
  window: { opens: string; closes: string } | null;
}

interface Schedule {
  instrument: { code: string } | null;
  timepoints: Timepoint[];
}

interface Item {
  key: string;
  position: number;
  text: string;
  topic: string;
  options: { value: number; text: string }[];
}

interface Instrument {
  code: string;
  title: string;
  name: string;
  items: Item[];
}

export function QuestionnaireList(): preact.JSX.Element {
  const user = useSignal(me);
  const episode = user?.active_episode ?? null;
  const schedule = useLoad(() => (episode ? get<Schedule>(`/api/v1/episodes/${episode}/questionnaires/`) : Promise.resolve(null)), [episode]);
  const due = schedule.data?.timepoints.filter((tp) => tp.state === "due" && tp.instrument) ?? [];
  const completed = schedule.data?.timepoints.filter((tp) => tp.state === "completed") ?? [];
  return (
    <main id="main">
      <ScreenHeading>{t("questionnaires.title")}</ScreenHeading>
      {schedule.loading && <Loading />}
      {schedule.error !== null && <ErrorList errors={errorsOf(schedule.error)} />}
      {schedule.data && due.length === 0 && <p>{t("questionnaires.none")}</p>}
      {due.map((tp) => (
        <Card key={tp.timepoint}>
          <p>{t("questionnaires.due", { label: tp.label })}</p>
          <a class="button primary" href={`/app/questionnaires/${tp.timepoint}/${tp.instrument}/`}>
            {t("questionnaires.start")}
            <span class="visually-hidden">: {tp.label}</span>
          </a>
        </Card>
      ))}
      {completed.length > 0 && (
        <ul class="plain">
          {completed.map((tp) => (
            <li key={tp.timepoint}>{t("questionnaires.completed", { label: tp.label })}</li>
          ))}
        </ul>
      )}
    </main>
  );
}

export function QuestionnaireRun(props: { timepoint: string; code: string }): preact.JSX.Element {
  const user = useSignal(me);
  const language = useSignal(lang);
  const episode = user?.active_episode ?? null;
  const instrument = useLoad(() => get<Instrument>(`/api/v1/questionnaires/instruments/${props.code}/?language=${language}`), [props.code, language]);
  const [index, setIndex] = useState(0);
  const [answers, setAnswers] = useState<Record<string, number | null>>({});
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [outcome, setOutcome] = useState<"sent" | "queued" | null>(null);
  const legendRef = useRef<HTMLLegendElement>(null);

  useEffect(() => {
    legendRef.current?.focus();
  }, [index]);

  if (instrument.loading) return <Loading />;
  if (!instrument.data) return <ErrorList errors={errorsOf(instrument.error)} />;
  const items = [...instrument.data.items].sort((a, b) => a.position - b.position);
  const item = items[index];
  const total = items.length;

  async function submit(): Promise<void> {
    if (!user || !episode || !instrument.data) return;
    const id = uuid4();
    const full: Record<string, number | null> = {};
    for (const each of items) full[each.key] = answers[each.key] ?? null;
    const body = { id, instrument: instrument.data.code, answers: full, submitted_at: new Date().toISOString() };
    await outbox.enqueue({ id, user: user.id, kind: "questionnaire", url: `/api/v1/episodes/${episode}/questionnaire-responses/`, body });
    const result = await outbox.flush();
    if (result.rejected.includes(id)) {
      const stored = (await outbox.items()).find((candidate) => candidate.id === id);
      await outbox.discard(id);
      setErrors(stored?.errors ?? { non_field_errors: [t("error.generic")] });
      return;
    }
    setOutcome(result.sent.includes(id) ? "sent" : "queued");
  }

  return (
    <main id="main">
      <ScreenHeading>{instrument.data.title || instrument.data.name}</ScreenHeading>
      {outcome ? (
        <Card>
          <Status message={outcome === "sent" ? t("questionnaires.saved") : t("questionnaires.queued")} tone={outcome === "sent" ? "ok" : "warn"} />
          <button type="button" onClick={() => navigate("/app/questionnaires/")}>
            {t("questionnaires.back")}
          </button>
        </Card>
      ) : (
        item && (
          <Card>
            <p class="muted">{t("questionnaires.item", { n: index + 1, total })}</p>
            <fieldset class="question">
              <legend tabIndex={-1} ref={legendRef}>
                {item.text}
              </legend>
              {item.options.map((option) => (
                <div class="field check" key={option.value}>
                  <input
                    type="radio"
                    id={`q-${item.key}-${option.value}`}
                    name={`q-${item.key}`}
                    checked={answers[item.key] === option.value}
                    onChange={() => setAnswers({ ...answers, [item.key]: option.value })}
                  />
                  <label for={`q-${item.key}-${option.value}`}>{option.text}</label>
                </div>
              ))}
            </fieldset>
            <ErrorList errors={errors} />
            <div class="actions">
              {index > 0 && (
                <button type="button" onClick={() => setIndex(index - 1)}>
                  {t("questionnaires.back")}
                </button>
              )}
              {index < total - 1 ? (
                <button type="button" class="primary" onClick={() => setIndex(index + 1)}>
                  {answers[item.key] === undefined ? t("questionnaires.skip") : t("questionnaires.next")}
                </button>
              ) : (
                <button type="button" class="primary" onClick={() => void submit()}>
                  {t("questionnaires.submit")}
                </button>
              )}
            </div>
          </Card>
        )
      )}
    </main>
  );
}
