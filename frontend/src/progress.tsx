/**
 * Progress: the patient's own pain by post-op day against the expected band, and milestones, in
 * encouraging words. Uses GET /episodes/{id}/trajectory/ when the server has it (issue 5); until then
 * (a 404) it charts the patient's own check-ins without a band and says the band will come.
 */
import { ApiError, get } from "./api";
import { LineChart, type ChartSeries } from "./chart";
import { Card, ErrorList, Loading, ScreenHeading, errorsOf, useLoad } from "./components";
import { t } from "./i18n";
import { me } from "./session";
import { useSignal } from "./state";

interface CheckIn {
  local_date: string;
  axial_pain: number;
  limb_pain: number;
}

interface Episode {
  surgery_date: string;
}

export interface DayPoint {
  day: number;
  axial: number | null;
  limb: number | null;
  lower?: number | null;
  upper?: number | null;
  expected?: number | null;
}

export interface Milestone {
  label: string;
  state: string;
}

export interface ProgressData {
  points: DayPoint[];
  hasBand: boolean;
  milestones: Milestone[];
  message: string | null;
}

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function column(source: unknown, name: string): unknown[] {
  const value = source && typeof source === "object" ? (source as Record<string, unknown>)[name] : undefined;
  return Array.isArray(value) ? value : [];
}

/**
 * Reads GET /episodes/{id}/trajectory/ (api/trajectory.py): `series` and `expected` are columns keyed
 * by post-op day; the band is the expected centre and upper limit per day, each with its source on
 * the server. `reasons[].text` is already worded for the audience (the patient gets patient words).
 */
export function fromTrajectory(raw: unknown): ProgressData | null {
  if (!raw || typeof raw !== "object") return null;
  const data = raw as Record<string, unknown>;
  const days = new Map<number, DayPoint>();
  const point = (day: number): DayPoint => {
    const existing = days.get(day);
    if (existing) return existing;
    const created: DayPoint = { day, axial: null, limb: null, lower: null, upper: null, expected: null };
    days.set(day, created);
    return created;
  };
  const seriesDays = column(data.series, "post_op_day");
  const axial = column(data.series, "axial_mean");
  const limb = column(data.series, "limb_mean");
  seriesDays.forEach((day, i) => {
    const d = num(day);
    if (d === null) return;
    const p = point(d);
    p.axial = num(axial[i]);
    p.limb = num(limb[i]);
  });
  const expectedDays = column(data.expected, "post_op_day");
  const center = column(data.expected, "axial_center");
  const upper = column(data.expected, "axial_upper");
  const lastDay = seriesDays.length ? Math.max(...seriesDays.map((d) => num(d) ?? 0)) : 0;
  expectedDays.forEach((day, i) => {
    const d = num(day);
    // The band is drawn up to the patient's today (plus a week), not for the whole protocol year.
    if (d === null || d > lastDay + 7) return;
    const p = point(d);
    p.expected = num(center[i]);
    p.upper = num(upper[i]);
  });
  if (days.size === 0) return null;
  const milestones: Milestone[] = [];
  if (Array.isArray(data.milestones)) {
    for (const entry of data.milestones) {
      if (!entry || typeof entry !== "object") continue;
      const row = entry as Record<string, unknown>;
      if (typeof row.label === "string") milestones.push({ label: row.label, state: String(row.state ?? "upcoming") });
    }
  }
  const reasons = Array.isArray(data.reasons) ? (data.reasons as Record<string, unknown>[]) : [];
  const message = reasons.map((r) => r.text).find((text): text is string => typeof text === "string") ?? null;
  const points = [...days.values()].sort((a, b) => a.day - b.day);
  return { points, hasBand: points.some((p) => p.upper !== null && p.upper !== undefined), milestones, message };
}

export function fromCheckIns(checkins: CheckIn[], surgeryDate: string): ProgressData {
  const surgery = Date.parse(`${surgeryDate}T00:00:00Z`);
  const byDay = new Map<number, { axial: number[]; limb: number[] }>();
  for (const c of checkins) {
    const day = Math.round((Date.parse(`${c.local_date}T00:00:00Z`) - surgery) / 86_400_000);
    const bucket = byDay.get(day) ?? { axial: [], limb: [] };
    bucket.axial.push(c.axial_pain);
    bucket.limb.push(c.limb_pain);
    byDay.set(day, bucket);
  }
  const mean = (values: number[]): number => Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10;
  const points = [...byDay.entries()].sort((a, b) => a[0] - b[0]).map(([day, v]) => ({ day, axial: mean(v.axial), limb: mean(v.limb) }));
  return { points, hasBand: false, milestones: [], message: null };
}

async function loadProgress(episode: string): Promise<ProgressData> {
  try {
    const parsed = fromTrajectory(await get<unknown>(`/api/v1/episodes/${episode}/trajectory/`));
    if (parsed) return parsed;
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
  }
  const [detail, page] = await Promise.all([
    get<Episode>(`/api/v1/episodes/${episode}/`),
    get<{ results: CheckIn[] }>(`/api/v1/episodes/${episode}/check-ins/?page_size=200`),
  ]);
  return fromCheckIns(page.results, detail.surgery_date);
}

function encouragement(points: DayPoint[]): string {
  const first = points.find((p) => p.axial !== null || p.limb !== null);
  const last = [...points].reverse().find((p) => p.axial !== null || p.limb !== null);
  if (!first || !last || first === last) return t("progress.steady");
  const total = (p: DayPoint): number => (p.axial ?? 0) + (p.limb ?? 0);
  return total(last) < total(first) ? t("progress.better") : t("progress.steady");
}

export function ProgressChart(props: { data: ProgressData; label: string }): preact.JSX.Element {
  const { points } = props.data;
  const series: ChartSeries[] = [
    { label: t("checkin.axial_pain"), values: points.map((p) => p.axial), color: "#0b5394" },
    { label: t("checkin.limb_pain"), values: points.map((p) => p.limb), color: "#9c4500", dash: [6, 4] },
  ];
  if (props.data.hasBand) {
    series.push({ label: t("progress.expected_center"), values: points.map((p) => p.expected ?? null), color: "#3d4a55", dash: [2, 4] });
    series.push({ label: t("progress.expected_upper"), values: points.map((p) => p.upper ?? null), color: "#3d4a55", dash: [10, 4], fill: "rgba(61, 74, 85, 0.08)" });
  }
  return <LineChart days={points.map((p) => p.day)} series={series} label={props.label} />;
}

export function PainTable(props: { points: DayPoint[]; caption: string }): preact.JSX.Element {
  return (
    <details>
      <summary>{props.caption}</summary>
      <table>
        <thead>
          <tr>
            <th scope="col">{t("progress.day")}</th>
            <th scope="col">{t("checkin.axial_pain")}</th>
            <th scope="col">{t("checkin.limb_pain")}</th>
          </tr>
        </thead>
        <tbody>
          {props.points.map((p) => (
            <tr key={p.day}>
              <td>{p.day}</td>
              <td>{p.axial ?? "–"}</td>
              <td>{p.limb ?? "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

export default function Progress(): preact.JSX.Element {
  const user = useSignal(me);
  const episode = user?.active_episode ?? null;
  const progress = useLoad(() => (episode ? loadProgress(episode) : Promise.resolve(null)), [episode]);
  const data = progress.data;
  const last = data ? [...data.points].reverse().find((p) => p.axial !== null) : undefined;
  return (
    <main id="main">
      <ScreenHeading>{t("progress.title")}</ScreenHeading>
      {progress.loading && <Loading />}
      {progress.error !== null && <ErrorList errors={errorsOf(progress.error)} />}
      {data && data.points.length === 0 && <p>{t("progress.no_data")}</p>}
      {data && data.points.length > 0 && (
        <Card>
          <p class="lead">{data.message ?? encouragement(data.points)}</p>
          {last && <p>{t("progress.latest", { axial: last.axial ?? "–", limb: last.limb ?? "–" })}</p>}
          <ProgressChart data={data} label={t("progress.chart_label")} />
          {!data.hasBand && <p class="muted">{t("progress.band_missing")}</p>}
          <PainTable points={data.points} caption={t("progress.table")} />
        </Card>
      )}
      {data && data.milestones.length > 0 && (
        <Card title={t("progress.milestones")}>
          <ul class="plain">
            {data.milestones.map((m) => (
              <li key={m.label}>
                {m.label}:{" "}
                {m.state === "met"
                  ? t("progress.milestone.met")
                  : m.state === "missed"
                    ? t("progress.milestone.missed")
                    : m.state === "due"
                      ? t("progress.milestone.due")
                      : t("progress.milestone.upcoming")}
              </li>
            ))}
          </ul>
        </Card>
      )}
    </main>
  );
}
