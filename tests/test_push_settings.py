"""VAPID configuration: ``manage.py vapid_keys`` prints a pair the settings accept, and a malformed or
half-set configuration stops start-up naming the variable."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from recovery.notifications.vapid import (
    b64url_decode,
    b64url_encode,
    point_of,
    private_key_from_raw,
    vapid_configure,
    vapid_keys_generate,
)

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.VAPID_PUBLIC_KEY, s.VAPID_PRIVATE_KEY, s.VAPID_SUBJECT]))"
)


def printed_keys() -> dict[str, str]:
    out = io.StringIO()
    call_command("vapid_keys", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY"]
    return dict(line.split("=", 1) for line in lines)


def start_up(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MOBILIZE_", "VAPID_", "DEFAULT_FROM_EMAIL"))
    }
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "recovery.settings",
            "MOBILIZE_ENV": "test",
            "MOBILIZE_VAR_DIR": str(tmp_path / "var"),
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


def test_vapid_keys_prints_an_application_server_key_and_its_raw_private_key() -> None:
    keys = printed_keys()

    public, private = b64url_decode(keys["VAPID_PUBLIC_KEY"]), b64url_decode(keys["VAPID_PRIVATE_KEY"])

    assert len(public) == 65 and public[0] == 0x04
    assert len(private) == 32
    assert point_of(private_key_from_raw(private).public_key()) == public
    assert "=" not in keys["VAPID_PUBLIC_KEY"] + keys["VAPID_PRIVATE_KEY"]
    assert printed_keys() != keys


def test_printed_keys_start_the_server_with_push_enabled(tmp_path: Path) -> None:
    keys = printed_keys()

    result = start_up(tmp_path, **keys, DEFAULT_FROM_EMAIL="Mobilize <care@clinic.example>")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        keys["VAPID_PUBLIC_KEY"],
        keys["VAPID_PRIVATE_KEY"],
        "mailto:care@clinic.example",
    ]


def test_without_keys_push_is_disabled(tmp_path: Path) -> None:
    result = start_up(tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [None, None, "mailto:no-reply@mobilize.example"]


def test_malformed_private_key_stops_start_up_naming_it(tmp_path: Path) -> None:
    keys = printed_keys()
    result = start_up(tmp_path, VAPID_PUBLIC_KEY=keys["VAPID_PUBLIC_KEY"], VAPID_PRIVATE_KEY="not a key")
    assert result.returncode != 0
    last = result.stderr.splitlines()[-1]
    assert "ImproperlyConfigured" in last and "VAPID_PRIVATE_KEY" in last


def _configure(public: str, private: str, subject: str = "mailto:ops@clinic.example") -> None:
    vapid_configure(public_key=public, private_key=private, subject=subject, subject_is_default=False)


def _other_pair() -> tuple[str, str]:
    pair = vapid_keys_generate()
    return pair.public_key, pair.private_key


@pytest.mark.parametrize(
    ("public", "private", "variable"),
    [
        ("", "PRIVATE", "VAPID_PUBLIC_KEY"),
        ("PUBLIC", "", "VAPID_PRIVATE_KEY"),
        ("PUBLIC", "abc+/def", "VAPID_PRIVATE_KEY"),
        ("PUBLIC", b64url_encode(b"\x00" * 32), "VAPID_PRIVATE_KEY"),
        ("PUBLIC", b64url_encode(b"\x01" * 31), "VAPID_PRIVATE_KEY"),
        ("-----BEGIN PUBLIC KEY-----", "PRIVATE", "VAPID_PUBLIC_KEY"),
        (b64url_encode(b"\x04" + b"\x01" * 64), "PRIVATE", "VAPID_PUBLIC_KEY"),
        ("OTHER_PUBLIC", "PRIVATE", "VAPID_PUBLIC_KEY"),
    ],
)
def test_bad_key_pairs_are_refused_naming_the_variable(public: str, private: str, variable: str) -> None:
    pair = vapid_keys_generate()
    other_public, _ = _other_pair()
    public = public.replace("OTHER_PUBLIC", other_public).replace("PUBLIC", pair.public_key)
    private = private.replace("PRIVATE", pair.private_key)
    with pytest.raises(ImproperlyConfigured, match=variable):
        _configure(public, private)


@pytest.mark.parametrize(
    "subject", ["ops@clinic.example", "mailto:", "https://clinic.example/contact", "http://clinic.example"]
)
def test_subject_must_be_mailto_or_an_https_origin(subject: str) -> None:
    pair = vapid_keys_generate()
    with pytest.raises(ImproperlyConfigured, match="VAPID_SUBJECT"):
        _configure(pair.public_key, pair.private_key, subject)


@pytest.mark.parametrize("subject", ["mailto:ops@clinic.example", "https://clinic.example"])
def test_good_subjects_are_accepted(subject: str) -> None:
    pair = vapid_keys_generate()
    assert vapid_configure(
        public_key=pair.public_key, private_key=pair.private_key, subject=subject, subject_is_default=False
    ) == (pair.public_key, pair.private_key, subject)


def test_an_odd_default_subject_only_matters_when_push_is_enabled() -> None:
    odd = "mailto:"
    assert vapid_configure(public_key="", private_key="", subject=odd, subject_is_default=True) == (
        None,
        None,
        odd,
    )
    pair = vapid_keys_generate()
    with pytest.raises(ImproperlyConfigured, match="VAPID_SUBJECT"):
        vapid_configure(
            public_key=pair.public_key, private_key=pair.private_key, subject=odd, subject_is_default=True
        )


def test_base64url_decoding_is_strict_about_the_alphabet() -> None:
    raw = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value.to_bytes(32, "big")
    assert b64url_decode(b64url_encode(raw)) == raw
    assert b64url_decode(b64url_encode(raw) + "=") == raw
    for bad in ("a b", "ab+c", "ab/c", "a", "abc=d"):
        with pytest.raises(ValueError, match="base64url"):
            b64url_decode(bad)
