/**
 * Staff two-factor sign-in (TOTP, api/security.py): status, enrolment with a new key shown as text and
 * as an otpauth:// link (no QR code: drawing one needs a QR encoder, and sending the secret to an
 * outside service to draw it is out of the question), confirmation with the first code, removal with
 * a current code. `TwoFactorGate` puts the enrolment screen in front of every staff screen while the
 * clinic requires a second factor this user has not set up (the API answers 403 elsewhere until then).
 */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, get, post, request } from "./api";
import { Card, ErrorList, Loading, ScreenHeading, Status, errorsOf, useLoad } from "./components";
import { ts } from "./i18n-staff";
import { navigate } from "./router";

interface TotpStatus {
  enrolled: boolean;
  pending: boolean;
  required_by_clinic: boolean;
}

interface Enrolment {
  secret: string;
  otpauth_uri: string;
  digits: number;
  period: number;
}

/** The key in groups of four, as authenticator apps show and people type it. */
export function groupKey(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, "$1 ");
}

function Enrol(props: { status: TotpStatus; onDone: (status: TotpStatus) => void }): preact.JSX.Element {
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  async function start(): Promise<void> {
    setBusy(true);
    setErrors(null);
    try {
      const { data } = await post<Enrolment>("/api/v1/auth/totp/");
      setEnrolment(data);
      setCode("");
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  async function confirm(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      const { data } = await post<TotpStatus>("/api/v1/auth/totp/confirm/", { otp: code.replace(/\s/g, "") });
      props.onDone(data);
    } catch (error) {
      setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  if (!enrolment) {
    return (
      <>
        {props.status.pending && <p>{ts("security.pending")}</p>}
        <button type="button" class="primary" disabled={busy} onClick={() => void start()}>
          {ts("security.start")}
        </button>
        <ErrorList errors={errors} />
      </>
    );
  }
  return (
    <form onSubmit={confirm} noValidate aria-label={ts("security.title")}>
      <p>{ts("security.step1")}</p>
      <dl class="totp-key">
        <dt>{ts("security.secret")}</dt>
        <dd>
          <code data-testid="totp-secret">{groupKey(enrolment.secret)}</code>
        </dd>
        <dt>{ts("security.uri")}</dt>
        <dd>
          <a href={enrolment.otpauth_uri} class="break">
            {enrolment.otpauth_uri}
          </a>
        </dd>
      </dl>
      <p>{ts("security.step2")}</p>
      <div class="field">
        <label for="totp-code">{ts("security.code")}</label>
        <input id="totp-code" inputMode="numeric" autoComplete="one-time-code" maxLength={8} value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} />
      </div>
      <ErrorList errors={errors} labels={{ otp: ts("security.code") }} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {ts("security.confirm")}
        </button>
        <button type="button" disabled={busy} onClick={() => void start()}>
          {ts("security.restart")}
        </button>
      </div>
    </form>
  );
}

function Remove(props: { onDone: () => void }): preact.JSX.Element {
  const [code, setCode] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  async function remove(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      await request("DELETE", "/api/v1/auth/totp/", { otp: code.replace(/\s/g, "") });
      props.onDone();
    } catch (error) {
      setErrors(error instanceof ApiError && error.status === 403 ? { non_field_errors: [ts("security.clinic_keeps")] } : errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={remove} noValidate aria-label={ts("security.remove_title")}>
      <h3>{ts("security.remove_title")}</h3>
      <div class="field">
        <label for="totp-remove-code">{ts("security.code")}</label>
        <input id="totp-remove-code" inputMode="numeric" autoComplete="one-time-code" maxLength={8} value={code} onInput={(e) => setCode((e.target as HTMLInputElement).value)} />
      </div>
      <ErrorList errors={errors} labels={{ otp: ts("security.code") }} />
      <button type="submit" disabled={busy}>
        {ts("security.remove")}
      </button>
    </form>
  );
}

function SecurityPanel(props: { status: TotpStatus; onChange: (status: TotpStatus) => void; gated: boolean; onContinue?: () => void }): preact.JSX.Element {
  const { status } = props;
  const [message, setMessage] = useState<string | null>(null);
  return (
    <main id="main" class="narrow">
      <ScreenHeading>{ts("security.title")}</ScreenHeading>
      {props.gated && <p class="banner banner-problem">{ts("security.required")}</p>}
      <Card>
        <p>{status.enrolled ? ts("security.on") : ts("security.off")}</p>
        {!status.enrolled && (
          <Enrol
            status={status}
            onDone={(next) => {
              setMessage(ts("security.done"));
              props.onChange(next);
            }}
          />
        )}
        {status.enrolled && !status.required_by_clinic && (
          <Remove
            onDone={() => {
              setMessage(ts("security.removed"));
              props.onChange({ ...status, enrolled: false, pending: false });
            }}
          />
        )}
        {status.enrolled && status.required_by_clinic && <p class="muted">{ts("security.clinic_keeps")}</p>}
        <Status message={message} />
        {status.enrolled && message && props.onContinue && (
          <button type="button" class="primary" onClick={props.onContinue}>
            {ts("security.continue")}
          </button>
        )}
      </Card>
    </main>
  );
}

const loadStatus = (): Promise<TotpStatus> => get<TotpStatus>("/api/v1/auth/totp/");

/** The staff member's own two-factor screen (/app/clinic/security/). */
export function Security(): preact.JSX.Element {
  const status = useLoad(loadStatus, []);
  const [current, setCurrent] = useState<TotpStatus | null>(null);
  const value = current ?? status.data;
  if (!value) return <main id="main">{status.error !== null ? <ErrorList errors={errorsOf(status.error)} /> : <Loading />}</main>;
  return <SecurityPanel status={value} onChange={setCurrent} gated={false} />;
}

/**
 * Staff screens behind the clinic's two-factor rule: while it is required and not set up, the
 * enrolment screen stands in for every screen; once confirmed it says so, and "Continue" shows the
 * worklist.
 */
export function TwoFactorGate(props: { children?: ComponentChildren }): preact.JSX.Element {
  const status = useLoad(loadStatus, []);
  const [current, setCurrent] = useState<TotpStatus | null>(null);
  const [enrolledHere, setEnrolledHere] = useState(false);
  const [released, setReleased] = useState(false);
  const value = current ?? status.data;
  // Offline or a failed check: show the screens (the API itself refuses what two-factor guards).
  if (!value) return status.loading ? <Loading /> : <>{props.children}</>;
  const onChange = (next: TotpStatus): void => {
    setCurrent(next);
    if (next.enrolled) setEnrolledHere(true);
  };
  if (value.required_by_clinic && !value.enrolled) return <SecurityPanel status={value} gated onChange={onChange} />;
  if (enrolledHere && !released)
    return (
      <SecurityPanel
        status={value}
        gated={false}
        onChange={onChange}
        onContinue={() => {
          setReleased(true);
          navigate("/app/clinic/");
        }}
      />
    );
  return <>{props.children}</>;
}
