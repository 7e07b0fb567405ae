import { describe, expect, it } from "vitest";
import { blockingTags, exerciseOption, restrictionsBody, type Restrictions } from "../src/plan";
import { lang } from "../src/i18n";

const box = { id: "ex-box", movement_tags: ["loaded_lifting", "lumbar_flexion"] };

function restrictions(overrides: Restrictions["overrides"] = []): Restrictions {
  return {
    lifting_limit_kg: 5,
    lifting_limit_until_day: 42,
    forbidden_movements: [
      { tag: "loaded_lifting", until_day: 42 },
      { tag: "lumbar_flexion", until_day: 14 },
    ],
    overrides,
    source: "Surgeon's instruction",
  };
}

describe("blockingTags (what the surgeon would override)", () => {
  it("is the exercise's movements forbidden on the start day, 'until day N' inclusive", () => {
    expect(blockingTags(restrictions(), box, 10)).toEqual(["loaded_lifting", "lumbar_flexion"]);
    expect(blockingTags(restrictions(), box, 14)).toEqual(["loaded_lifting", "lumbar_flexion"]);
    expect(blockingTags(restrictions(), box, 15)).toEqual(["loaded_lifting"]);
    expect(blockingTags(restrictions(), box, 43)).toEqual([]);
  });

  it("leaves out movements already overridden for this exercise only", () => {
    const overridden = restrictions([{ exercise: "ex-box", tag: "loaded_lifting", reason: "Supervised" }]);
    expect(blockingTags(overridden, box, 10)).toEqual(["lumbar_flexion"]);
    expect(blockingTags(overridden, { id: "ex-other", movement_tags: ["loaded_lifting"] }, 10)).toEqual(["loaded_lifting"]);
  });
});

describe("restrictionsBody (the PUT document)", () => {
  it("keeps the document, adds the new override and drops the read-only fields of the GET", () => {
    const current = restrictions([{ exercise: "ex-a", exercise_name: "A", tag: "lumbar_flexion", reason: "r1" }]);
    expect(restrictionsBody(current, [{ exercise: "ex-box", tag: "loaded_lifting", reason: "r2" }])).toEqual({
      lifting_limit_kg: 5,
      lifting_limit_until_day: 42,
      forbidden_movements: [
        { tag: "loaded_lifting", until_day: 42 },
        { tag: "lumbar_flexion", until_day: 14 },
      ],
      overrides: [
        { exercise: "ex-a", tag: "lumbar_flexion", reason: "r1" },
        { exercise: "ex-box", tag: "loaded_lifting", reason: "r2" },
      ],
      source: "Surgeon's instruction",
    });
  });
});

describe("exerciseOption (the 'Add an exercise' list in words)", () => {
  const box = { name: "Box lift", region: "lumbar", phase: "early", movement_tags: ["loaded_lifting"] };

  it("names region, phase and movements in English, never the codes", () => {
    lang.value = "en";
    expect(exerciseOption(box)).toBe("Box lift (lower back, early phase, weeks 0-2): loaded lifting");
    expect(exerciseOption({ ...box, region: "cervical", phase: "late", movement_tags: [] })).toBe("Box lift (neck, late phase, week 6 on)");
  });

  it("speaks Spanish, and shows a code this build does not know without underscores", () => {
    lang.value = "es";
    expect(exerciseOption(box)).toBe("Box lift (zona lumbar, fase inicial, semanas 0-2): levantar peso");
    expect(exerciseOption({ ...box, region: "thoracic_spine", movement_tags: ["deep_squat"] })).toBe("Box lift (thoracic spine, fase inicial, semanas 0-2): deep squat");
    lang.value = "en";
  });
});
