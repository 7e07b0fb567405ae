/**
 * The red-flag vocabulary of a check-in, in step with recovery/checkins/vocabulary.py (codes, order
 * and urgency; tests/test_pwa_build.py checks they match). Urgency follows the clinical reference,
 * section 4: "emergency" means seek emergency care now (cauda equina signs, DVT/PE, airway), "urgent"
 * means contact the care team today. The words are ours, in plain language.
 */
export type Urgency = "emergency" | "urgent";

export interface RedFlagDef {
  code: string;
  urgency: Urgency;
  cervicalOnly?: boolean;
}

export const RED_FLAGS: readonly RedFlagDef[] = [
  { code: "saddle_numbness", urgency: "emergency" },
  { code: "bladder_bowel_change", urgency: "emergency" },
  { code: "new_weakness", urgency: "emergency" },
  { code: "fever", urgency: "urgent" },
  { code: "wound_drainage", urgency: "urgent" },
  { code: "calf_pain_swelling", urgency: "emergency" },
  { code: "chest_pain_breathless", urgency: "emergency" },
  { code: "positional_headache", urgency: "urgent" },
  { code: "swallowing_breathing_difficulty", urgency: "emergency" },
];

export function worstUrgency(codes: readonly string[]): Urgency | null {
  let worst: Urgency | null = null;
  for (const code of codes) {
    const flag = RED_FLAGS.find((f) => f.code === code);
    if (!flag) continue;
    if (flag.urgency === "emergency") return "emergency";
    worst = "urgent";
  }
  return worst;
}
