import { afterEach, describe, expect, it } from "vitest";
import { describeAccess, partOf, type AccessEntry } from "../src/accesslog";
import { setLang } from "../src/i18n";

const entry = (resource: string, action: AccessEntry["action"], role = "surgeon"): AccessEntry => ({
  at: "2026-11-21T09:30:00Z",
  who: { name: "Sam Surgeon", role },
  role,
  action,
  resource,
  episodes: [],
  via: resource.startsWith("admin:") ? "admin" : "app",
  device: "",
});

describe("the access log in plain words", () => {
  afterEach(() => setLang("en"));

  it.each([
    ["api:checkin-list", "checkins"],
    ["api:checkin-detail", "checkins"],
    ["api:assignment-detail", "plan"],
    ["api:plan-today", "plan"],
    ["api:exercise-log-list", "exercise_logs"],
    ["api:episode-trajectory", "progress"],
    ["api:episode-detail", "episode"],
    ["api:episode-access-log", "access_log"],
    ["api:episode-fhir", "export"],
    ["api:cohort-export", "export"],
    ["api:cohort", "cohort"],
    ["api:questionnaire-response-list", "questionnaires"],
    ["admin:checkins_checkin_change", "admin"],
    ["api:something-new", "record"],
  ])("%s is about %s", (resource, part) => {
    expect(partOf(resource)).toBe(part);
  });

  it("says who, in what role, did what to which part", () => {
    expect(describeAccess(entry("api:checkin-list", "list"))).toBe("Sam Surgeon, surgeon, looked at your check-ins.");
    expect(describeAccess(entry("api:assignment-detail", "update", "physiotherapist"))).toBe("Sam Surgeon, physiotherapist, changed your exercise plan.");
    expect(describeAccess(entry("api:episode-fhir", "export", "clinic_admin"))).toBe("Sam Surgeon, clinic administrator, exported a copy of your record.");
  });

  it("speaks Spanish to a Spanish-speaking patient", () => {
    setLang("es");
    expect(describeAccess(entry("api:checkin-list", "view"))).toBe("Sam Surgeon, cirujano/a, consultó tus registros diarios.");
  });
});
