import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, NetworkError } from "./api";
import { painWord, t } from "./i18n";

let counter = 0;
export function useId(prefix: string): string {
  const ref = useRef<string | null>(null);
  if (ref.current === null) ref.current = `${prefix}-${++counter}`;
  return ref.current;
}

/** A polite live region: messages put here are read out by screen readers. */
export function Status(props: { message: string | null; tone?: "ok" | "warn" | "error" }): preact.JSX.Element {
  return (
    <p class={`status ${props.message ? `status-${props.tone ?? "ok"}` : "status-empty"}`} role="status" aria-live="polite">
      {props.message ?? ""}
    </p>
  );
}

/** Errors from the API, field by field, announced (role="alert"). */
export function ErrorList(props: { errors: Record<string, string[]> | null; labels?: Record<string, string> }): preact.JSX.Element | null {
  const entries = Object.entries(props.errors ?? {});
  return (
    <div role="alert" class={entries.length ? "errors" : "errors-empty"}>
      {entries.length > 0 && (
        <ul>
          {entries.map(([field, messages]) =>
            messages.map((message) => (
              <li key={`${field}-${message}`}>
                {field === "non_field_errors" ? message : t("error.field", { field: props.labels?.[field] ?? field, message })}
              </li>
            )),
          )}
        </ul>
      )}
    </div>
  );
}

export function errorsOf(error: unknown): Record<string, string[]> {
  if (error instanceof ApiError) return error.errors;
  if (error instanceof NetworkError) return { non_field_errors: [t("error.offline")] };
  return { non_field_errors: [t("error.generic")] };
}

export function PainSlider(props: { id: string; label: string; value: number; onChange: (value: number) => void }): preact.JSX.Element {
  const hint = `${props.id}-hint`;
  const text = t("checkin.pain_value", { value: props.value, word: painWord(props.value) });
  return (
    <div class="field pain">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        type="range"
        min={0}
        max={10}
        step={1}
        value={props.value}
        aria-valuetext={text}
        aria-describedby={hint}
        onInput={(event) => props.onChange(Number((event.target as HTMLInputElement).value))}
      />
      <div class="pain-anchors" id={hint}>
        <span>{t("checkin.pain_0")}</span>
        <span>{t("checkin.pain_10")}</span>
      </div>
      <output for={props.id} class="pain-value">
        {text}
      </output>
    </div>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; headingLevel?: 2 | 3; class?: string }): preact.JSX.Element {
  const Heading = props.headingLevel === 3 ? "h3" : "h2";
  return (
    <section class={`card ${props.class ?? ""}`}>
      {props.title && <Heading>{props.title}</Heading>}
      {props.children}
    </section>
  );
}

/** Loads JSON once per dependency change; `reload` fetches again. */
export function useLoad<T>(loader: () => Promise<T>, deps: unknown[]): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((previous) => ({ ...previous, loading: true }));
    loader().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error: unknown) => live && setState({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { ...state, reload: () => setTick((n) => n + 1) };
}

export function Loading(): preact.JSX.Element {
  return (
    <p class="muted" role="status">
      {t("app.loading")}
    </p>
  );
}

/** Moves focus to the screen's heading on navigation, so screen readers announce the new screen. */
export function ScreenHeading(props: { children: ComponentChildren }): preact.JSX.Element {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return (
    <h1 tabIndex={-1} ref={ref} class="screen-title">
      {props.children}
    </h1>
  );
}
