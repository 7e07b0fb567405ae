"""The shipped exercise library: exercises commonly used after lumbar and cervical MISS.

Every exercise is written in our own plain words, for a tired patient reading on a phone: 3 to 6 short
steps. ``movement_tags`` name what an exercise loads (``vocabulary.MOVEMENT_TAGS``), so the restriction
guard can keep it away from a patient whose surgeon forbade that movement; tag generously, a surgeon
can record an override.

Default doses are starting points for the physiotherapist to adjust. No dose here comes from a
published source (the clinical reference has none per exercise), so the API labels them with
``DEFAULT_DOSE_SOURCE``. ``media_url`` stays empty until we have our own media.

Loading: ``load_library`` is called by data migrations with the historical app registry. It upserts
by slug among shipped rows (``clinic`` null), so running it twice changes nothing. A later edit to
``LIBRARY`` needs a new data migration that calls it again; an exercise removed from the library
should be deactivated there, not deleted (assignments point at it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from recovery.rehab.vocabulary import BodyRegion, Phase

DEFAULT_DOSE_SOURCE: Final = (
    "clinic default, not evidence: a common starting dose for the physiotherapist to adjust"
)


@dataclass(frozen=True)
class LibraryExercise:
    slug: str
    name: str
    region: str
    phase: str
    instructions: tuple[str, ...]
    sets: int = 1
    reps: int | None = None
    hold_seconds: int | None = None
    sessions_per_day: int = 1
    tags: tuple[str, ...] = ()


_L, _C, _G = BodyRegion.LUMBAR, BodyRegion.CERVICAL, BodyRegion.GENERAL
_EARLY, _MID, _LATE = Phase.EARLY, Phase.INTERMEDIATE, Phase.LATE

LIBRARY: Final[tuple[LibraryExercise, ...]] = (
    # --- Early (weeks 0-2) -------------------------------------------------------------------------
    LibraryExercise(
        "walking",
        "Walking",
        _G,
        _EARLY,
        (
            "Put on steady shoes with a good grip.",
            "Walk at an easy pace, on flat ground, standing tall.",
            "Keep going for the time your physio set, then rest.",
            "Walk a little longer each day if it feels fine.",
        ),
        hold_seconds=300,
        sessions_per_day=3,
    ),
    LibraryExercise(
        "ankle-pumps",
        "Ankle pumps",
        _G,
        _EARLY,
        (
            "Lie on your back or sit with your legs out straight.",
            "Point your toes away from you.",
            "Pull your toes back up towards you.",
            "Keep a steady rhythm, one foot or both together.",
        ),
        reps=20,
        sessions_per_day=3,
    ),
    LibraryExercise(
        "deep-breathing",
        "Deep breathing",
        _G,
        _EARLY,
        (
            "Sit up or lie back comfortably.",
            "Breathe in slowly through your nose and let your belly rise.",
            "Breathe out slowly through your mouth.",
            "Rest for a normal breath between each deep one.",
        ),
        reps=10,
        sessions_per_day=3,
    ),
    LibraryExercise(
        "log-roll",
        "Getting in and out of bed (log roll)",
        _L,
        _EARLY,
        (
            "Lie on your back and bend both knees.",
            "Roll onto your side in one piece: shoulders and hips turn together.",
            "Let your legs slide off the edge of the bed.",
            "Push up sideways with your arms as your legs go down.",
            "To lie down, do the same steps in reverse.",
        ),
        reps=3,
    ),
    LibraryExercise(
        "seated-marching",
        "Seated marching",
        _G,
        _EARLY,
        (
            "Sit tall on a firm chair, feet flat on the floor.",
            "Lift one knee a little, then put the foot down.",
            "Do the same with the other leg.",
            "Keep your back still and breathe normally.",
        ),
        reps=10,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "sit-to-stand",
        "Sit to stand",
        _G,
        _EARLY,
        (
            "Sit near the front of a firm chair with arms.",
            "Put your feet under your knees.",
            "Lean forward from the hips, keeping your back straight.",
            "Push through your legs to stand up; use your hands if you need to.",
            "Sit back down slowly, the same way.",
        ),
        reps=5,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "heel-slides",
        "Heel slides",
        _L,
        _EARLY,
        (
            "Lie on your back with your legs out straight.",
            "Slowly slide one heel towards your bottom, bending the knee.",
            "Stop when you feel a gentle stretch, not pain.",
            "Slide the leg back out straight and swap sides.",
        ),
        reps=10,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "abdominal-bracing",
        "Tummy tightening (abdominal bracing)",
        _L,
        _EARLY,
        (
            "Lie on your back with your knees bent and feet flat.",
            "Gently tighten your tummy muscles, as if bracing for a small poke.",
            "Keep breathing; do not hold your breath.",
            "Hold, then relax fully.",
        ),
        reps=10,
        hold_seconds=5,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "glute-squeezes",
        "Buttock squeezes",
        _L,
        _EARLY,
        (
            "Lie on your back or sit up straight.",
            "Squeeze your buttocks together.",
            "Hold the squeeze and keep breathing.",
            "Let go slowly and rest.",
        ),
        reps=10,
        hold_seconds=5,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "pelvic-tilts",
        "Pelvic tilts",
        _L,
        _EARLY,
        (
            "Lie on your back with your knees bent and feet flat.",
            "Gently flatten your lower back into the bed by tightening your tummy.",
            "Hold for a moment.",
            "Relax back to where you started.",
        ),
        reps=10,
        hold_seconds=3,
        sessions_per_day=2,
        tags=("lumbar_flexion",),
    ),
    LibraryExercise(
        "sciatic-nerve-glides",
        "Leg nerve glides (sciatic nerve)",
        _L,
        _EARLY,
        (
            "Sit tall on a chair with your hands on your thighs.",
            "Slowly straighten one knee until you feel a light pull, no more.",
            "At the same time, gently look up.",
            "Bend the knee back down as you look ahead again.",
            "Move smoothly; stop if your leg tingles more afterwards.",
        ),
        reps=10,
        sessions_per_day=2,
        tags=("neural_tension",),
    ),
    LibraryExercise(
        "chin-tucks",
        "Chin tucks",
        _C,
        _EARLY,
        (
            "Sit or stand tall, looking straight ahead.",
            "Gently slide your chin straight back, making a double chin.",
            "Keep your eyes level; do not nod down.",
            "Hold, then relax.",
        ),
        reps=10,
        hold_seconds=3,
        sessions_per_day=2,
        tags=("cervical_flexion",),
    ),
    LibraryExercise(
        "shoulder-blade-squeezes",
        "Shoulder blade squeezes (scapular retraction)",
        _C,
        _EARLY,
        (
            "Sit or stand tall with your arms relaxed.",
            "Gently draw your shoulder blades back and together.",
            "Keep your shoulders down, away from your ears.",
            "Hold, then relax.",
        ),
        reps=10,
        hold_seconds=5,
        sessions_per_day=2,
    ),
    LibraryExercise(
        "shoulder-rolls",
        "Shoulder rolls",
        _C,
        _EARLY,
        (
            "Sit or stand tall with your arms by your sides.",
            "Lift your shoulders gently up towards your ears.",
            "Roll them back and then down.",
            "Keep your head still and breathe normally.",
        ),
        reps=10,
        sessions_per_day=2,
    ),
    # --- Intermediate (weeks 2-6) ------------------------------------------------------------------
    LibraryExercise(
        "glute-bridges",
        "Bridges",
        _L,
        _MID,
        (
            "Lie on your back with your knees bent and feet flat.",
            "Tighten your tummy and squeeze your buttocks.",
            "Lift your hips until your body is in a line from knees to shoulders.",
            "Do not arch your back.",
            "Lower down slowly.",
        ),
        sets=2,
        reps=10,
    ),
    LibraryExercise(
        "clamshells",
        "Clamshells",
        _L,
        _MID,
        (
            "Lie on your side with your knees bent and your head resting.",
            "Keep your feet together.",
            "Lift your top knee, like a shell opening.",
            "Do not let your hips roll back.",
            "Lower slowly and repeat, then swap sides.",
        ),
        sets=2,
        reps=10,
    ),
    LibraryExercise(
        "bird-dog",
        "Bird dog",
        _L,
        _MID,
        (
            "Get on your hands and knees, back flat like a table.",
            "Tighten your tummy gently.",
            "Slide one leg back until it is straight, keeping your hips level.",
            "If that is easy, lift the opposite arm forward too.",
            "Come back slowly and swap sides.",
        ),
        sets=2,
        reps=8,
        hold_seconds=3,
    ),
    LibraryExercise(
        "dead-bug",
        "Dead bug",
        _L,
        _MID,
        (
            "Lie on your back with your knees bent and feet flat.",
            "Tighten your tummy so your lower back stays still.",
            "Slowly straighten one leg along the bed.",
            "Bring it back and swap legs.",
            "Keep breathing the whole time.",
        ),
        sets=2,
        reps=8,
    ),
    LibraryExercise(
        "hamstring-stretch",
        "Back-of-thigh stretch (lying, with a towel)",
        _L,
        _MID,
        (
            "Lie on your back with a towel around one foot.",
            "Keep the other knee bent, foot flat.",
            "Use the towel to raise the straight leg until you feel a gentle stretch.",
            "Hold, breathing normally, then lower slowly.",
        ),
        reps=3,
        hold_seconds=30,
        sessions_per_day=2,
        tags=("neural_tension",),
    ),
    LibraryExercise(
        "mini-squats",
        "Mini squats",
        _G,
        _MID,
        (
            "Stand holding the back of a sturdy chair.",
            "Keep your feet hip-width apart.",
            "Bend your knees a little, as if starting to sit.",
            "Keep your back straight and your knees over your toes.",
            "Stand up tall again.",
        ),
        sets=2,
        reps=10,
    ),
    LibraryExercise(
        "calf-raises",
        "Standing calf raises",
        _G,
        _MID,
        (
            "Stand holding a kitchen counter or a chair.",
            "Rise up onto your toes.",
            "Hold for a moment.",
            "Lower your heels slowly to the floor.",
        ),
        sets=2,
        reps=10,
    ),
    LibraryExercise(
        "stationary-bike",
        "Stationary bike",
        _G,
        _MID,
        (
            "Set the seat so your knee is almost straight at the bottom.",
            "Sit tall and hold the handlebars lightly.",
            "Pedal gently with little or no resistance.",
            "Stop for the day if your back or leg pain builds up.",
        ),
        hold_seconds=600,
        tags=("lumbar_flexion",),
    ),
    LibraryExercise(
        "neck-isometrics",
        "Neck isometrics",
        _C,
        _MID,
        (
            "Sit tall and look straight ahead.",
            "Place your palm on your forehead.",
            "Push your head gently into your hand without letting it move.",
            "Hold, then relax.",
            "Repeat with your hand on the back and on each side of your head.",
        ),
        reps=5,
        hold_seconds=5,
    ),
    LibraryExercise(
        "neck-rotation",
        "Neck turns",
        _C,
        _MID,
        (
            "Sit tall and look straight ahead.",
            "Slowly turn your head to one side, as far as is comfortable.",
            "Come back to the middle.",
            "Turn to the other side.",
        ),
        reps=5,
        sessions_per_day=2,
        tags=("cervical_rotation",),
    ),
    LibraryExercise(
        "chin-to-chest",
        "Nodding forward (chin to chest)",
        _C,
        _MID,
        (
            "Sit tall and look straight ahead.",
            "Slowly lower your chin towards your chest.",
            "Stop at a gentle stretch.",
            "Lift your head back to looking ahead.",
        ),
        reps=5,
        sessions_per_day=2,
        tags=("cervical_flexion",),
    ),
    LibraryExercise(
        "upper-trapezius-stretch",
        "Side of neck stretch (upper trapezius)",
        _C,
        _MID,
        (
            "Sit tall and hold the edge of the chair with one hand.",
            "Tilt your head away from that hand, ear towards shoulder.",
            "Stop at a gentle stretch.",
            "Hold, then bring your head back up slowly and swap sides.",
        ),
        reps=3,
        hold_seconds=20,
        tags=("cervical_flexion",),
    ),
    LibraryExercise(
        "arm-nerve-glides",
        "Arm nerve glides",
        _C,
        _MID,
        (
            "Sit tall with your arm out to the side, elbow bent, palm up.",
            "Slowly straighten your elbow and let your wrist bend back.",
            "Stop at a light pull, no more.",
            "Bend the elbow again.",
            "Stop if your arm tingles more afterwards.",
        ),
        reps=10,
        tags=("neural_tension",),
    ),
    LibraryExercise(
        "wall-slides",
        "Wall slides",
        _C,
        _MID,
        (
            "Stand with your back and head against a wall.",
            "Put your arms against the wall, elbows bent like a goalpost.",
            "Slowly slide your arms up the wall as far as is comfortable.",
            "Slide them back down.",
        ),
        sets=2,
        reps=10,
        tags=("overhead_reaching",),
    ),
    # --- Late (week 6 on) --------------------------------------------------------------------------
    LibraryExercise(
        "cat-camel",
        "Cat-camel",
        _L,
        _LATE,
        (
            "Get on your hands and knees.",
            "Slowly round your back up like a cat, letting your head drop.",
            "Then let your back sag gently and lift your head.",
            "Move slowly, only as far as is comfortable.",
        ),
        reps=10,
        tags=("lumbar_flexion", "lumbar_extension"),
    ),
    LibraryExercise(
        "prone-press-up",
        "Press-ups lying on your front",
        _L,
        _LATE,
        (
            "Lie on your front with your hands under your shoulders.",
            "Keep your hips on the floor.",
            "Slowly straighten your arms to lift your chest.",
            "Let your back relax, then lower down.",
        ),
        reps=10,
        tags=("prone_lying", "lumbar_extension"),
    ),
    LibraryExercise(
        "knee-rocks",
        "Knee rocks (lower back rotation)",
        _L,
        _LATE,
        (
            "Lie on your back with your knees bent and together.",
            "Slowly let both knees fall a little to one side.",
            "Keep your shoulders flat on the bed.",
            "Bring them back to the middle, then go to the other side.",
        ),
        reps=10,
        tags=("lumbar_rotation",),
    ),
    LibraryExercise(
        "kneeling-plank",
        "Plank on your knees",
        _L,
        _LATE,
        (
            "Lie on your front, resting on your forearms and knees.",
            "Tighten your tummy and lift your body in a straight line from knees to shoulders.",
            "Keep breathing; do not let your hips sag.",
            "Hold, then lower down and rest.",
        ),
        sets=3,
        reps=1,
        hold_seconds=15,
        tags=("prone_lying",),
    ),
    LibraryExercise(
        "safe-lifting",
        "Lifting practice (floor to waist)",
        _L,
        _LATE,
        (
            "Stand close to the object, feet apart.",
            "Bend at your hips and knees, keeping your back straight.",
            "Hold the object close to your body.",
            "Stand up by pushing through your legs; do not twist.",
            "Put it down the same way.",
        ),
        sets=2,
        reps=5,
        tags=("loaded_lifting",),
    ),
    LibraryExercise(
        "step-ups",
        "Step-ups",
        _G,
        _LATE,
        (
            "Stand facing the bottom stair, holding the rail.",
            "Step up with one foot, then bring the other up.",
            "Step down, one foot at a time.",
            "Lead with the other leg next time.",
        ),
        sets=2,
        reps=10,
    ),
    LibraryExercise(
        "thoracic-extension-chair",
        "Upper back extension over a chair",
        _C,
        _LATE,
        (
            "Sit on a chair with a back that reaches your shoulder blades.",
            "Hold your hands behind your head to support your neck.",
            "Gently lean your upper back over the top of the chair.",
            "Keep your lower back against the seat.",
            "Come back up slowly.",
        ),
        reps=5,
    ),
    LibraryExercise(
        "neck-extension",
        "Looking up (neck extension)",
        _C,
        _LATE,
        (
            "Sit tall and look straight ahead.",
            "Slowly tilt your head back to look up, only as far as is comfortable.",
            "Bring your head back to looking ahead.",
            "Stop if you feel dizzy.",
        ),
        reps=5,
        tags=("cervical_extension",),
    ),
)


def _defaults(item: LibraryExercise) -> dict[str, Any]:
    return {
        "name": item.name,
        "instructions": list(item.instructions),
        "region": str(item.region),
        "phase": str(item.phase),
        "default_sets": item.sets,
        "default_reps": item.reps,
        "default_hold_seconds": item.hold_seconds,
        "default_sessions_per_day": item.sessions_per_day,
        "movement_tags": list(item.tags),
        "media_url": "",
        "is_active": True,
    }


def load_library(apps: Any, schema_editor: Any) -> None:
    """Upsert every shipped exercise by slug (data migrations and test fixtures call this)."""
    exercise = apps.get_model("rehab", "Exercise")
    for item in LIBRARY:
        exercise.objects.update_or_create(slug=item.slug, clinic=None, defaults=_defaults(item))
