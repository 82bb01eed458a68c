"""Audience member keys (normalised + hashed like the published references), theta-sketch overlap
within its stated bound, and the lookalike model finding a planted signature."""

from __future__ import annotations

import random

import pytest

from auctera.domain.audiences import (
    Targets,
    email_digests,
    hash_digests,
    member_key,
    overlap,
    pack_digests,
    pack_keys,
    sketch_of,
    unpack_keys,
)
from auctera.domain.identifiers import EMPTY_SHA256, InvalidIdentifier, hashed, sha256_hex
from auctera.domain.lookalike import LookalikeFailed, build

# Published reference hashes (docs/identifiers.md): Google's normalisation; Meta's own example.
REFERENCES = [
    ("email", "test@example.com", "e:973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"),
    (
        "email",
        " Jane.Doe+news@Gmail.com ",
        "e:d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69",
    ),
    ("email", "Jane.Doe@Example.com", "e:86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"),
    ("email", "John_Smith@gmail.com", "e:62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"),
    ("phone", "+1 (650) 555-1212", "p:1e231c66011e7a2d867a9cfae267a6aff103cf4913640b6e71a99850fc0ffbc8"),
    ("phone", "+44 20 7946 0958", "p:f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d"),
    (
        "email_sha256",
        "973DFE463EC85785F5F95AF5BA3906EEDB2D931C24E69824A89EA65DBA4E813B",
        "e:973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b",
    ),
    ("maid", "6D92078A-8246-4BA4-AE5B-76104861E7DC", "m:6d92078a-8246-4ba4-ae5b-76104861e7dc"),
]


@pytest.mark.parametrize(("kind", "raw", "key"), REFERENCES)
def test_member_keys_match_the_published_reference_hashes(kind: str, raw: str, key: str) -> None:
    assert member_key(kind, raw) == key


def test_national_phone_numbers_need_the_region() -> None:
    assert member_key("phone", "(650) 555-1212", "US") == REFERENCES[4][2]
    with pytest.raises(InvalidIdentifier):
        member_key("phone", "(650) 555-1212")


def test_the_email_fast_path_agrees_with_the_full_normalisation() -> None:
    """The bulk path (one regex) and `hashed` accept, refuse and hash exactly alike."""
    rng = random.Random(7)
    alphabet = "aB.+_-@ \t1é"
    samples = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) + rng.choice(["", ".com", "@x.org"])
        for _ in range(5_000)
    ]
    samples += [
        "a@b",
        "a@.com",
        "a@b..com",
        "@b.com",
        "x" * 65 + "@b.com",
        "j.doe+x@googlemail.com",
        "A@B.CO ",
    ]
    for raw in samples:
        try:
            expected: str | None = "e:" + hashed("email", raw)[1]
        except InvalidIdentifier:
            expected = None
        try:
            got: str | None = member_key("email", raw)
        except InvalidIdentifier:
            got = None
        assert got == expected, raw


def _full_path(kind: str, raw: str) -> str | None:
    try:
        return member_key(kind, raw)
    except InvalidIdentifier:
        return None


def test_bulk_email_digests_agree_with_the_full_path() -> None:
    """Every value the bulk checks pass is hashed exactly as `member_key` hashes it; every other
    one is handed back for the full path, which alone decides what is malformed."""
    rng = random.Random(11)
    alphabet = 'aB.+_-@ \t1é\x1c"'
    odd = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14))) + rng.choice(["", ".com", "@x.org"])
        for _ in range(3_000)
    ]
    odd += ["a@b", "a@.com", "a@b..com", "a@b.com.", "a.@b.com", "@b.com", "x" * 65 + "@b.com", "a@b@c.com"]
    odd += ["j.doe+x@googlemail.com", " Jane@GMAIL.com", "ü@b.com", "a b@c.com", "a@b.c\u00a0", "", " ", "@"]
    odd += [sha256_hex("a@b.com")]
    plain = ["ann@example.com", " B.O.B@Example.CO.uk ", "x" * 50 + "@d.io", "a+b@gmail.co", "q@agmail.com"]
    plain += [" Jane.Doe+news@Gmail.com ", "j.d.o.e@googlemail.com"]  # Gmail's rule, in bulk too
    odd += ["+x@gmail.com", ".+@googlemail.com"]
    runs = [[*plain, value, *plain] for value in odd] + [odd, [odd[0]], plain]
    runs += [["a@b.com x@y.com", ""], ["", "a@b.com\tx@y.com", *plain], ["a@b.com", "x@y.com z@w.com", " "]]
    for run in runs:
        expected = [_full_path("email", v) for v in run]
        digests, others = email_digests(_joined(run), len(run))
        bulk = [i for i in range(len(run)) if i not in set(others)]
        hashed_in_bulk = sorted("e:" + digests[i : i + 32].hex() for i in range(0, len(digests), 32))
        assert hashed_in_bulk == sorted(str(expected[i]) for i in bulk)
        for i in others:  # handed back though valid: only shapes the bulk checks do not prove
            value = run[i]
            assert (
                expected[i] is None
                or _gmail(value)
                or not value.isascii()
                or any(c in value for c in "\t\x1c")
                or ".." in value
                or len(value.strip()) > 64
            ), value
    digests, others = email_digests(_joined(plain), len(plain))
    assert others == [] and bytes.fromhex(REFERENCES[1][2][2:]) in digests


def _joined(values: list[str]) -> bytes:
    return b"\n".join(v.encode() for v in values)


def _gmail(value: str) -> bool:
    return value.strip().lower().endswith(("@gmail.com", "@googlemail.com"))


def test_bulk_hash_digests_take_only_clean_hashes() -> None:
    hashes = [sha256_hex(f"p{i}@example.com") for i in range(5)]
    sent = [h.upper() if i % 2 else f" {h} " for i, h in enumerate(hashes)]
    digests, others = hash_digests(_joined(sent), len(sent))
    assert (digests, others) == (b"".join(bytes.fromhex(h) for h in hashes), [])
    for odd in (
        "x" * 64,
        hashes[0][:63],
        hashes[0] + "0",
        EMPTY_SHA256,
        hashes[0][:32] + " " + hashes[0][33:],
    ):
        assert hash_digests(_joined([*hashes, odd]), 6) == (b"", list(range(6))), odd
        assert _full_path("email_sha256", odd) is None


def test_staged_records_keep_every_member_key() -> None:
    keys = [
        "e:" + sha256_hex("a@b.com"),
        "p:" + sha256_hex("+14155550100"),
        "m:6d92078a-8246-4ba4-ae5b-76104861e7dc",
    ]
    assert unpack_keys(pack_keys(keys)) == keys
    digests = b"".join(bytes.fromhex(sha256_hex(str(i))) for i in range(3))
    assert unpack_keys(pack_digests("p", digests)) == ["p:" + sha256_hex(str(i)) for i in range(3)]


def test_malformed_identifiers_never_repeat_the_value() -> None:
    for kind, raw in [("email", "not-an-email"), ("phone", "12"), ("maid", "nope"), ("fax", "x@y.com")]:
        with pytest.raises(InvalidIdentifier) as caught:
            member_key(kind, raw)
        assert raw not in str(caught.value)


def test_small_audiences_overlap_exactly() -> None:
    a = sketch_of(f"u:{i}" for i in range(1000))
    b = sketch_of(f"u:{i}" for i in range(800, 2000))
    o = overlap([a, b])
    assert o.exact
    assert o.unique_users == 2000
    assert o.common_users == 200
    assert o.percentage == 10.0
    assert o.percentage_low == o.percentage_high == 10.0


def test_exact_bounds_are_the_figure_shown() -> None:
    """A third: 33.3, and the bounds 33.3 too, not 33.33."""
    o = overlap([sketch_of(f"u:{i}" for i in range(2)), sketch_of(f"u:{i}" for i in range(1, 3))])
    assert (o.exact, o.percentage, o.percentage_low, o.percentage_high) == (True, 33.3, 33.3, 33.3)


@pytest.mark.parametrize(("size", "shared"), [(200_000, 0.3), (120_000, 0.05)])
def test_large_overlaps_fall_within_the_stated_bound(size: int, shared: float) -> None:
    common = int(size * shared)
    a = sketch_of(f"u:{i}" for i in range(size))
    b = sketch_of(f"u:{i}" for i in range(size - common, 2 * size - common))
    o = overlap([a, b])
    true_unique = 2 * size - common
    true_percentage = 100 * common / true_unique
    assert not o.exact
    assert o.percentage_low <= true_percentage <= o.percentage_high
    assert o.unique_low <= true_unique <= o.unique_high
    assert abs(o.unique_users - true_unique) / true_unique < 0.03


def test_three_way_overlap() -> None:
    a = sketch_of(f"u:{i}" for i in range(0, 300))
    b = sketch_of(f"u:{i}" for i in range(100, 400))
    c = sketch_of(f"u:{i}" for i in range(200, 500))
    o = overlap([a, b, c])
    assert (o.common_users, o.unique_users) == (100, 500)


def test_targets_admit_by_include_and_exclude() -> None:
    assert Targets().admits(frozenset())
    assert not Targets(include=(1,)).admits(frozenset())
    assert Targets(include=(1, 2)).admits(frozenset({2}))
    assert not Targets(include=(1,), exclude=(3,)).admits(frozenset({1, 3}))


def _population(
    n: int, seed_share: float, rng: random.Random
) -> tuple[list[tuple[object, ...]], set[str], set[str]]:
    """Visitors; the seed (and its hidden lookalikes) favour publisher 7 on mobile in the evening."""
    rows: list[tuple[object, ...]] = []
    seed: set[str] = set()
    alike: set[str] = set()
    for i in range(n):
        uid = f"v{i}"
        similar = rng.random() < 2 * seed_share
        if similar:
            publisher = "7" if rng.random() < 0.8 else str(rng.randint(1, 20))
            device = "mobile" if rng.random() < 0.85 else "desktop"
            hour = rng.choice([19, 20, 21, 22])
            conversions = rng.randint(1, 3)
        else:
            publisher = str(rng.randint(1, 20))
            device = rng.choice(["mobile", "desktop", "tablet"])
            hour = rng.randint(0, 23)
            conversions = 0 if rng.random() < 0.9 else 1
        country = "US" if rng.random() < 0.8 else "CA"
        rows.append(
            (
                uid,
                publisher,
                country,
                device,
                hour,
                str(rng.randint(1, 5)),
                rng.randint(1, 30),
                rng.randint(0, 4),
                conversions,
            )
        )
        if similar:
            (seed if rng.random() < 0.5 else alike).add(uid)
    return rows, seed, alike


def test_the_lookalike_model_finds_the_seed_signature() -> None:
    rng = random.Random(11)
    rows, seed, alike = _population(20_000, 0.02, rng)
    result = build(rows, seed, ["US"], 200)  # top 2%
    assert result.auc > 0.8
    us = sum(1 for r in rows if r[2] == "US")
    assert len(result.members) == -(-us * 2 // 100)
    assert not set(result.members) & seed
    hits = len(set(result.members) & alike) / len(result.members)
    assert hits > 0.5  # the base rate of hidden lookalikes is about 2%


def test_a_lookalike_needs_enough_seed_visitors() -> None:
    rng = random.Random(3)
    rows, _, _ = _population(500, 0.02, rng)
    with pytest.raises(LookalikeFailed, match="at least"):
        build(rows, {"v1", "v2"}, ["US"], 100)
