"""The test speech's own promises: every set is labelled, and a held-out
set shares no text with a set anything was chosen on (set 7 repeated 13
replies of earlier sets, so its 'held-out' figure counted tuned replies)."""

import voice_data as vd


def _norm(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").strip(" .?!").split())


def test_every_list_of_english_talk_is_labelled():
    labelled = {id(texts) for texts, _, _ in vd.SETS.values()}
    lists = [name for name, value in vars(vd).items()
             if (name.startswith(("HELD_OUT_", "EN_")) and isinstance(value, list) and value
                 and isinstance(value[0], str))]
    assert lists and all(id(getattr(vd, name)) in labelled for name in lists)
    assert {label for _, label, _ in vd.SETS.values()} == {vd.TUNING, vd.HELD_OUT}


def test_held_out_sets_share_no_text_with_tuning_sets():
    tuning = {_norm(t) for texts in vd.sets(vd.TUNING).values() for t in texts}
    tuning |= {_norm(t) for t in vd.SHORT_REPLIES}
    for name, texts in vd.sets(vd.HELD_OUT).items():
        assert not {_norm(t) for t in texts} & tuning, name


def test_sets_7_and_earlier_are_tuning():
    # The finding: set 7 repeats replies of earlier sets, and sets
    # 1-8 were all used to choose something.
    assert all(vd.SETS[f"set {n}"][1] == vd.TUNING for n in range(1, 9))
    seven = {_norm(t) for t in vd.HELD_OUT_REPLIES_7}
    earlier = {_norm(t) for s in (vd.HELD_OUT_REPLIES, vd.HELD_OUT_REPLIES_2, vd.HELD_OUT_REPLIES_3,
                                  vd.HELD_OUT_REPLIES_4, vd.HELD_OUT_REPLIES_5, vd.HELD_OUT_REPLIES_6)
               for t in s}
    assert len(seven & earlier) >= 10
