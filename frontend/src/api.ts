/**
 * JSON over fetch to the same-origin API with the session cookie. Unsafe methods send Django's CSRF
 * token (read from the csrftoken cookie, which Django rotates at sign-in). Every error has the API's
 * one shape, {"errors": {field: [message]}}; a failure to reach the server is a NetworkError, so
 * callers can queue the write instead.
 */
export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: FieldErrors,
  ) {
    super(firstMessage(errors) ?? `HTTP ${status}`);
  }
}

export class NetworkError extends Error {}

export interface ApiResponse<T> {
  status: number;
  data: T;
}

function firstMessage(errors: FieldErrors): string | undefined {
  for (const messages of Object.values(errors)) {
    if (messages.length > 0) return messages[0];
  }
  return undefined;
}

export function csrfToken(): string {
  const match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(typeof document === "undefined" ? "" : document.cookie);
  return match?.[1] ? decodeURIComponent(match[1]) : "";
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export async function request<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE.has(method)) {
    if (!csrfToken()) await fetchCsrf();
    headers["X-CSRFToken"] = csrfToken();
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? null : JSON.stringify(body),
    });
  } catch (error) {
    throw new NetworkError(error instanceof Error ? error.message : "network error");
  }
  // The service worker answers for an API GET it could neither fetch nor find in its cache.
  if (response.headers.get("X-Mobilize-Offline") === "1") throw new NetworkError("offline");
  const text = response.status === 204 ? "" : await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const errors =
      data && typeof data === "object" && "errors" in data
        ? ((data as { errors: FieldErrors }).errors ?? {})
        : { non_field_errors: [`HTTP ${response.status}`] };
    throw new ApiError(response.status, errors);
  }
  return { status: response.status, data: data as T };
}

export async function fetchCsrf(): Promise<void> {
  try {
    await fetch("/api/v1/auth/csrf/", { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch {
    // Offline: the write that needed it fails as a NetworkError and is queued.
  }
}

export const get = <T>(path: string): Promise<T> => request<T>("GET", path).then((r) => r.data);
export const post = <T>(path: string, body?: unknown): Promise<ApiResponse<T>> => request<T>("POST", path, body);
