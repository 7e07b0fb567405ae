/** Line charts with uPlot (loaded only with the progress and patient-detail screens). */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: number[];
  fill?: string;
}

export function LineChart(props: { days: number[]; series: ChartSeries[]; label: string; yMax?: number }): preact.JSX.Element {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const width = Math.max(280, element.clientWidth);
    const plot = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: false }, y: { range: [0, props.yMax ?? 10] } },
        axes: [{ label: "Day" }, {}],
        series: [
          {},
          ...props.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            ...(s.dash ? { dash: s.dash } : {}),
            ...(s.fill ? { fill: s.fill } : {}),
            spanGaps: true,
          })),
        ],
      },
      [props.days, ...props.series.map((s) => s.values)] as uPlot.AlignedData,
      element,
    );
    return () => plot.destroy();
  }, [props.days, props.series, props.yMax]);
  return <div ref={host} class="chart" role="img" aria-label={props.label} />;
}
