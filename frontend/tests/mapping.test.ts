import { describe, expect, it } from "vitest";
import { appRouteFor } from "../src/router";
import { worstUrgency } from "../src/redflags";
import { fromCheckIns } from "../src/progress";

describe("appRouteFor (where a notification click lands)", () => {
  const episode = "8d0c6a53-0c3c-4a55-9b55-7f3c2a1e0b11";
  it.each([
    [`/episodes/${episode}/check-ins/new/`, "/app/today/"],
    [`/episodes/${episode}/plan/today/`, "/app/exercises/"],
    [`/episodes/${episode}/questionnaires/`, "/app/questionnaires/"],
    ["/reminders/", "/app/reminders/"],
    ["/clinician/", "/app/clinic/"],
    ["/app/progress/", "/app/progress/"],
    ["/somewhere/else/", "/app/"],
  ])("%s -> %s", (url, route) => {
    expect(appRouteFor(url)).toBe(route);
  });
});

describe("worstUrgency", () => {
  it("is an emergency as soon as one emergency sign is ticked", () => {
    expect(worstUrgency(["fever", "saddle_numbness"])).toBe("emergency");
    expect(worstUrgency(["fever", "wound_drainage"])).toBe("urgent");
    expect(worstUrgency([])).toBeNull();
    expect(worstUrgency(["not_a_flag"])).toBeNull();
  });
});

describe("fromCheckIns", () => {
  it("averages each local day by post-op day", () => {
    const data = fromCheckIns(
      [
        { local_date: "2026-03-03", axial_pain: 6, limb_pain: 4 },
        { local_date: "2026-03-03", axial_pain: 4, limb_pain: 2 },
        { local_date: "2026-03-01", axial_pain: 8, limb_pain: 7 },
      ],
      "2026-03-01",
    );
    expect(data.points).toEqual([
      { day: 0, axial: 8, limb: 7 },
      { day: 2, axial: 5, limb: 3 },
    ]);
    expect(data.hasBand).toBe(false);
  });
});
