import { useState } from "preact/hooks";
import { ApiError, NetworkError, post } from "./api";
import { ErrorList, ScreenHeading, Status, errorsOf } from "./components";
import { t } from "./i18n";
import { navigate } from "./router";
import { signIn } from "./session";

export function SignIn(): preact.JSX.Element {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [otp, setOtp] = useState("");
  const [needOtp, setNeedOtp] = useState(false);
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setErrors(null);
    try {
      await signIn(email.trim(), password, otp.trim() || undefined);
      navigate("/app/", true);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        if (error.errors.otp) {
          setNeedOtp(true);
          setErrors(error.errors);
        } else setErrors({ non_field_errors: [t("signin.failed")] });
      } else if (error instanceof ApiError && error.status === 429) {
        setErrors({ non_field_errors: [t("signin.locked")] });
      } else if (error instanceof NetworkError) {
        setErrors({ non_field_errors: [t("signin.offline")] });
      } else setErrors(errorsOf(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="narrow">
      <ScreenHeading>{t("signin.title")}</ScreenHeading>
      <form onSubmit={submit} noValidate>
        <div class="field">
          <label for="email">{t("signin.email")}</label>
          <input id="email" name="email" type="email" autoComplete="username" required value={email} onInput={(e) => setEmail((e.target as HTMLInputElement).value)} />
        </div>
        <div class="field">
          <label for="password">{t("signin.password")}</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </div>
        {needOtp && (
          <div class="field">
            <label for="otp">{t("signin.otp")}</label>
            <input id="otp" name="otp" inputMode="numeric" autoComplete="one-time-code" value={otp} onInput={(e) => setOtp((e.target as HTMLInputElement).value)} />
          </div>
        )}
        <ErrorList errors={errors} labels={{ email: t("signin.email"), password: t("signin.password"), otp: t("signin.otp") }} />
        <button type="submit" class="primary" disabled={busy}>
          {t("signin.submit")}
        </button>
      </form>
    </main>
  );
}

export function SetPassword(props: { uid: string; token: string }): preact.JSX.Element {
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Record<string, string[]> | null>(null);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    if (password !== confirm) {
      setErrors({ confirm: [t("setpw.mismatch")] });
      return;
    }
    setBusy(true);
    setErrors(null);
    try {
      await post("/api/v1/auth/set-password/", { uid: props.uid, token: props.token, password });
      setDone(true);
    } catch (error) {
      const found = errorsOf(error);
      if (found.uid || found.token) setErrors({ non_field_errors: [t("setpw.bad_link")] });
      else setErrors(found);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" class="narrow">
      <ScreenHeading>{t("setpw.title")}</ScreenHeading>
      {done ? (
        <>
          <Status message={t("setpw.done")} />
          <a class="button primary" href="/app/sign-in/">
            {t("signin.title")}
          </a>
        </>
      ) : (
        <form onSubmit={submit} noValidate>
          <p>{t("setpw.intro")}</p>
          <div class="field">
            <label for="new-password">{t("setpw.password")}</label>
            <input id="new-password" type="password" autoComplete="new-password" minLength={10} required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
          </div>
          <div class="field">
            <label for="confirm-password">{t("setpw.confirm")}</label>
            <input id="confirm-password" type="password" autoComplete="new-password" required value={confirm} onInput={(e) => setConfirm((e.target as HTMLInputElement).value)} />
          </div>
          <ErrorList errors={errors} labels={{ password: t("setpw.password"), confirm: t("setpw.confirm") }} />
          <button type="submit" class="primary" disabled={busy}>
            {t("setpw.submit")}
          </button>
        </form>
      )}
    </main>
  );
}
