import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { get } from "./api";
import { Card, ErrorList, PainSlider, ScreenHeading, Status, useLoad } from "./components";
import { t, type MessageKey } from "./i18n";
import { RED_FLAGS, worstUrgency } from "./redflags";
import { me, outbox } from "./session";
import { useSignal } from "./state";
import { uuid4 } from "./uuid";

interface EpisodeSummary {
  id: string;
  post_op_day: number;
  procedure_name: string;
}

const CAUDA_EQUINA = new Set(["saddle_numbness", "bladder_bowel_change"]);

export function RedFlagGuidance(props: { flags: string[]; outcome: "draft" | "sent" | "queued" }): preact.JSX.Element | null {
  const urgency = worstUrgency(props.flags);
  if (!urgency) return null;
  const cauda = props.flags.some((code) => CAUDA_EQUINA.has(code));
  return (
    <div class={`guidance guidance-${urgency}`} role="alert" data-testid="red-flag-guidance">
      <h3>{t(urgency === "emergency" ? "guidance.emergency.title" : "guidance.urgent.title")}</h3>
      <p>{t(urgency === "emergency" ? "guidance.emergency.body" : "guidance.urgent.body")}</p>
      {cauda && <p>{t("guidance.cauda_equina")}</p>}
      <p class="guidance-alert">
        <strong>
          {props.outcome === "sent" ? t("guidance.alerted") : props.outcome === "queued" ? t("guidance.not_yet_alerted") : t("guidance.alert_on_send")}
        </strong>
      </p>
    </div>
  );
}

function optionalInt(raw: string): number | null {
  const trimmed = raw.trim();
  if (trimmed === "") return null;
  const value = Number(trimmed);
  return Number.isInteger(value) ? value : Number.NaN;
}

export function CheckInForm(props: { episode: string }): preact.JSX.Element {
  const user = useSignal(me);
  const [axial, setAxial] = useState(0);
  const [limb, setLimb] = useState(0);
  const [walking, setWalking] = useState("");
  const [steps, setSteps] = useState("");
  const [opioid, setOpioid] = useState(false);
  const [flags, setFlags] = useState<string[]>([]);
  // The guidance appears right under the box just ticked, where the patient is looking.
  const [lastTicked, setLastTicked] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [outcome, setOutcome] = useState<"draft" | "sent" | "queued">("draft");
  const [sentFlags, setSentFlags] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  const labels: Record<string, string> = {
    axial_pain: t("checkin.axial_pain"),
    limb_pain: t("checkin.limb_pain"),
    walking_minutes: t("checkin.walking"),
    steps: t("checkin.steps"),
    note: t("checkin.note"),
    red_flags: t("checkin.flags"),
  };

  function toggle(code: string, on: boolean): void {
    const next = on ? [...flags.filter((c) => c !== code), code] : flags.filter((c) => c !== code);
    setFlags(next);
    if (on) setLastTicked(code);
    else if (lastTicked === code) setLastTicked(next[next.length - 1] ?? null);
  }

  function reset(): void {
    setAxial(0);
    setLimb(0);
    setWalking("");
    setSteps("");
    setOpioid(false);
    setFlags([]);
    setLastTicked(null);
    setNote("");
    setErrors(null);
    setOutcome("draft");
    setSentFlags([]);
  }

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const walkingValue = optionalInt(walking);
    const stepsValue = optionalInt(steps);
    const local: Record<string, string[]> = {};
    if (walkingValue !== null && !(walkingValue >= 0 && walkingValue <= 1440)) local.walking_minutes = ["0-1440"];
    if (stepsValue !== null && !(stepsValue >= 0 && stepsValue <= 100000)) local.steps = ["0-100000"];
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    if (!user) return;
    setBusy(true);
    setErrors(null);
    const id = uuid4();
    const body: Record<string, unknown> = {
      id,
      recorded_at: new Date().toISOString(),
      axial_pain: axial,
      limb_pain: limb,
      walking_minutes: walkingValue,
      steps: stepsValue,
      took_opioid: opioid,
      red_flags: flags,
      note: note.trim(),
    };
    await outbox.enqueue({ id, user: user.id, kind: "checkin", url: `/api/v1/episodes/${props.episode}/check-ins/`, body });
    const result = await outbox.flush();
    setBusy(false);
    if (result.rejected.includes(id)) {
      const item = (await outbox.items()).find((candidate) => candidate.id === id);
      await outbox.discard(id);
      setErrors(item?.errors ?? { non_field_errors: [t("error.generic")] });
      return;
    }
    setSentFlags(flags);
    setOutcome(result.sent.includes(id) ? "sent" : "queued");
  }

  if (outcome !== "draft") {
    return (
      <Card title={t("checkin.title")}>
        <Status message={outcome === "sent" ? t("checkin.saved") : t("checkin.queued")} tone={outcome === "sent" ? "ok" : "warn"} />
        <RedFlagGuidance flags={sentFlags} outcome={outcome} />
        <button type="button" onClick={reset}>
          {t("checkin.another")}
        </button>
      </Card>
    );
  }

  return (
    <Card title={t("checkin.title")}>
      <form onSubmit={submit} noValidate aria-label={t("checkin.title")}>
        <PainSlider id="axial_pain" label={t("checkin.axial_pain")} value={axial} onChange={setAxial} />
        <PainSlider id="limb_pain" label={t("checkin.limb_pain")} value={limb} onChange={setLimb} />
        <div class="field">
          <label for="walking_minutes">{t("checkin.walking")}</label>
          <input id="walking_minutes" type="number" inputMode="numeric" min={0} max={1440} value={walking} onInput={(e) => setWalking((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="steps">{t("checkin.steps")}</label>
          <input id="steps" type="number" inputMode="numeric" min={0} max={100000} value={steps} onInput={(e) => setSteps((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field check">
          <input id="took_opioid" type="checkbox" checked={opioid} onChange={(e) => setOpioid((e.target as HTMLInputElement).checked)} />
          <label for="took_opioid">{t("checkin.opioid")}</label>
        </div>
        <fieldset class="flags">
          <legend>{t("checkin.flags")}</legend>
          <p class="hint">{t("checkin.flags_hint")}</p>
          {RED_FLAGS.map((flag) => (
            <Fragment key={flag.code}>
              <div class="field check">
                <input id={`flag-${flag.code}`} type="checkbox" name="red_flags" value={flag.code} checked={flags.includes(flag.code)} onChange={(e) => toggle(flag.code, (e.target as HTMLInputElement).checked)} />
                <label for={`flag-${flag.code}`}>{t(`flag.${flag.code}` as MessageKey)}</label>
              </div>
              {lastTicked === flag.code && <RedFlagGuidance flags={flags} outcome="draft" />}
            </Fragment>
          ))}
        </fieldset>
        <div class="field">
          <label for="note">{t("checkin.note")}</label>
          <textarea id="note" maxLength={2000} rows={3} value={note} onInput={(e) => setNote((e.target as HTMLTextAreaElement).value)} />
        </div>
        <ErrorList errors={errors} labels={labels} />
        <button type="submit" class="primary" disabled={busy}>
          {t("checkin.submit")}
        </button>
      </form>
    </Card>
  );
}

export function Today(): preact.JSX.Element {
  const user = useSignal(me);
  const episodeId = user?.active_episode ?? null;
  const episode = useLoad(() => (episodeId ? get<EpisodeSummary>(`/api/v1/episodes/${episodeId}/`) : Promise.resolve(null)), [episodeId]);
  return (
    <main id="main">
      <ScreenHeading>{t("today.greeting", { name: user?.name.split(" ")[0] ?? "" })}</ScreenHeading>
      {episode.data && <p class="lead">{t("today.day", { day: episode.data.post_op_day })}</p>}
      {episodeId ? <CheckInForm episode={episodeId} /> : <p>{t("today.no_episode")}</p>}
    </main>
  );
}
