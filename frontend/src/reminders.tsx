import { useEffect, useState } from "preact/hooks";
import { ApiError, get, post, request } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useLoad } from "./components";
import { formatTime, t, type MessageKey } from "./i18n";

interface Delivery {
  id: string;
  kind: string;
  due_at: string;
  state: string;
  title: string;
  body: string;
  snoozed_until: string | null;
}

interface ReminderList {
  upcoming: { kind: string; due_at: string }[];
  recent: Delivery[];
}

/** The consent text version the patient agrees to when turning push on (shown in the app). */
export const PUSH_CONSENT_VERSION = "2026-11";

function kindLabel(kind: string): string {
  return t(`kind.${kind}` as MessageKey);
}

function stateLabel(state: string): string {
  if (state === "done" || state === "sent" || state === "snoozed") return t(`reminders.state.${state}` as MessageKey);
  return t("reminders.state.other");
}

function urlBase64ToBytes(base64: string): Uint8Array<ArrayBuffer> {
  const padded = (base64 + "=".repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

type PushState = "loading" | "unsupported" | "unavailable" | "denied" | "on" | "off";

export function PushToggle(): preact.JSX.Element {
  const [state, setState] = useState<PushState>("loading");
  const [key, setKey] = useState<string | null>(null);
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    void (async () => {
      if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
        setState("unsupported");
        return;
      }
      try {
        const { public_key } = await get<{ public_key: string }>("/api/v1/push/public-key/");
        setKey(public_key);
      } catch (error) {
        setState(error instanceof ApiError && error.status === 404 ? "unavailable" : "unsupported");
        return;
      }
      if (Notification.permission === "denied") {
        setState("denied");
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.getSubscription();
      setState(subscription ? "on" : "off");
    })();
  }, []);

  async function turnOn(): Promise<void> {
    if (!key) return;
    setBusy(true);
    setErrors(null);
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        setState(permission === "denied" ? "denied" : "off");
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: urlBase64ToBytes(key) });
      const json = subscription.toJSON();
      await post("/api/v1/push-subscriptions/", { endpoint: json.endpoint, keys: json.keys, expirationTime: json.expirationTime ?? null });
      await post("/api/v1/me/notification-consent/", { kind: "push", granted: true, version: PUSH_CONSENT_VERSION });
      setState("on");
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  async function turnOff(): Promise<void> {
    setBusy(true);
    setErrors(null);
    try {
      const registration = await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.getSubscription();
      if (subscription) {
        await request("DELETE", `/api/v1/push-subscriptions/?endpoint=${encodeURIComponent(subscription.endpoint)}`);
        await subscription.unsubscribe();
      }
      await post("/api/v1/me/notification-consent/", { kind: "push", granted: false, version: PUSH_CONSENT_VERSION });
      setState("off");
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  const text: Record<PushState, string> = {
    loading: t("app.loading"),
    unsupported: t("push.unsupported"),
    unavailable: t("push.unavailable"),
    denied: t("push.denied"),
    on: t("push.is_on"),
    off: t("push.is_off"),
  };
  return (
    <Card title={t("push.title")}>
      <Status message={text[state]} />
      {state === "off" && (
        <button type="button" disabled={busy} onClick={() => void turnOn()}>
          {t("push.on")}
        </button>
      )}
      {state === "on" && (
        <button type="button" disabled={busy} onClick={() => void turnOff()}>
          {t("push.off")}
        </button>
      )}
      <ErrorList errors={errors} />
    </Card>
  );
}

function RecentReminder(props: { item: Delivery; onChange: () => void }): preact.JSX.Element {
  const { item } = props;
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);
  const actionable = item.state === "sent" || item.state === "snoozed";

  async function act(action: "snooze" | "done"): Promise<void> {
    setBusy(true);
    setErrors(null);
    try {
      await post(`/api/v1/reminders/${item.id}/${action}/`, action === "snooze" ? { minutes: 30 } : {});
      props.onChange();
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li class="reminder">
      <div>
        <strong>{item.title || kindLabel(item.kind)}</strong>
        {item.body && <p>{item.body}</p>}
        <p class="muted">
          {formatTime(item.due_at)} · {item.state === "snoozed" && item.snoozed_until ? t("reminders.snoozed_until", { time: formatTime(item.snoozed_until) }) : stateLabel(item.state)}
        </p>
      </div>
      {actionable && (
        <div class="actions">
          <button type="button" disabled={busy} onClick={() => void act("snooze")}>
            {t("reminders.snooze")}
          </button>
          <button type="button" class="primary" disabled={busy} onClick={() => void act("done")}>
            {t("reminders.done")}
          </button>
        </div>
      )}
      <ErrorList errors={errors} />
    </li>
  );
}

export function Reminders(): preact.JSX.Element {
  const list = useLoad(() => get<ReminderList>("/api/v1/reminders/"), []);
  const recent = (list.data?.recent ?? []).filter((item) => item.kind !== "digest");
  return (
    <main id="main">
      <ScreenHeading>{t("reminders.title")}</ScreenHeading>
      {list.loading && !list.data && <Loading />}
      {list.error !== null && <ErrorList errors={errorsOf(list.error)} />}
      {list.data && (
        <>
          <Card title={t("reminders.recent")}>
            {recent.length === 0 ? (
              <p>{t("reminders.none")}</p>
            ) : (
              <ul class="plain">
                {recent.map((item) => (
                  <RecentReminder key={item.id} item={item} onChange={list.reload} />
                ))}
              </ul>
            )}
          </Card>
          <Card title={t("reminders.upcoming")}>
            {list.data.upcoming.length === 0 ? (
              <p>{t("reminders.none")}</p>
            ) : (
              <ul class="plain">
                {list.data.upcoming.map((item) => (
                  <li key={`${item.kind}-${item.due_at}`}>
                    {kindLabel(item.kind)} · {formatTime(item.due_at)}
                  </li>
                ))}
              </ul>
            )}
          </Card>
        </>
      )}
      <PushToggle />
    </main>
  );
}
