"""The rehearsal: a punctual chair on a fake clock."""

from intervisor.core.model import Choice, Cues, Duration, Method, Option, Phase, Question, Rounds
from intervisor.core.rehearsal import rehearse

M = 60.0


def five_steps():
    return Method("vijf-stappen", "Vijf stappen", "nl", (
        Phase("inbrengen", "Inbrengen", Duration(5 * M, 10 * M)),
        Phase("verhelderen", "Verhelderen", Duration(5 * M, 10 * M)),
        Phase("denkpauze", "Denkpauze", Duration(5 * M, 5 * M), silent=True),
        Phase("adviesronde", "Adviesronde", Duration(20 * M, 20 * M), rounds=Rounds()),
        Phase("evaluatie", "Evaluatie", Duration(5 * M, 5 * M),
              questions=(Question("Wat heb je gewaardeerd?"), Question("Wat kan beter?"))),
    ), participants=5)


def test_phases_start_where_the_ones_before_add_up_to():
    r = rehearse(five_steps())
    starts = [(e["t"], e["phase"]) for e in r.events if e["kind"] == "phase_start"]
    assert starts == [(0.0, "inbrengen"), (600.0, "verhelderen"), (1200.0, "denkpauze"),
                      (1500.0, "adviesronde"), (2700.0, "evaluatie")]
    end = [e for e in r.events if e["kind"] == "session_end"]
    assert end[0]["t"] == 3000.0 and end[0]["phase"] is None


def test_warning_and_time_up_per_phase():
    r = rehearse(five_steps())
    warnings = [e["t"] for e in r.events if e["kind"] == "warning"]
    time_ups = [e["t"] for e in r.events if e["kind"] == "time_up"]
    assert warnings == [540.0, 1140.0, 1440.0, 2640.0, 2940.0]
    assert time_ups == [600.0, 1200.0, 1500.0, 2700.0, 3000.0]
    assert all(e["text"] is None for e in r.events if e["kind"] in ("warning", "time_up"))


def test_questions_spread_evenly_and_turns_share_the_round():
    r = rehearse(five_steps())
    questions = [(e["t"], e["text"]) for e in r.events if e["kind"] == "question"]
    assert questions == [(2700.0, "Wat heb je gewaardeerd?"), (2850.0, "Wat kan beter?")]
    turns = [e["t"] for e in r.events if e["kind"] == "turn"]
    assert turns == [1500.0, 1740.0, 1980.0, 2220.0, 2460.0]


def test_a_turn_in_the_timeline_carries_the_round_line_that_is_said():
    m = Method("m", "M", "nl", (Phase("r", "Ronde", Duration(10 * M, 10 * M),
                                      rounds=Rounds(say="Volgende deelnemer. Wat zou jij doen?")),),
               participants=3)
    turns = [e["text"] for e in rehearse(m).events if e["kind"] == "turn"]
    assert turns == ["Beurt 1 van 3.", "Beurt 2 van 3. Volgende deelnemer. Wat zou jij doen?",
                     "Beurt 3 van 3. Volgende deelnemer. Wat zou jij doen?"]


def test_no_warning_where_warn_before_is_zero():
    m = Method("m", "M", "nl", (Phase("a", "A", Duration(M, M), cues=Cues(warn_before=0)),))
    assert [e["kind"] for e in rehearse(m).events] == ["intro", "phase_start", "time_up", "session_end"]


def test_choices_default_to_the_first_option_or_take_the_given_one():
    c = Choice("verhaal", "Welk verhaal?", (
        Option("annie", "Annie", questions=(Question("Wanneer is een gesprek zinvol?"),)),
        Option("bob", "Bob", questions=(Question("Helpt het zijn zelfstandigheid?"),)),
    ))
    m = Method("m", "M", "nl", (Phase("d", "Discussie", Duration(30 * M, 30 * M), from_choice="verhaal"),),
               choices=(c,))
    assert rehearse(m).choices == {"verhaal": "annie"}
    r = rehearse(m, {"verhaal": "bob"})
    assert [e["text"] for e in r.events if e["kind"] == "question"] == ["Helpt het zijn zelfstandigheid?"]


def test_rehearse_command_writes_the_timeline_of_a_shipped_method(tmp_path):
    import json

    from intervisor.cli import main

    out = tmp_path / "t.json"
    assert main(["rehearse", "vijf-stappen", "--timeline", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["method"] == "vijf-stappen"
    kinds = {e["kind"] for e in data["events"]}
    assert {"phase_start", "question", "warning", "time_up", "session_end"} <= kinds
    assert data["events"][-1]["kind"] == "session_end"


def test_rehearse_command_refuses_an_unknown_choice_plainly(tmp_path, capsys):
    from intervisor.cli import main

    assert main(["rehearse", "beeldbellen-eigen-casus", "--choice", "vragen=geen"]) == 2
    assert "has no option 'geen'" in capsys.readouterr().err
    assert main(["rehearse", "geen-methode"]) == 1
    assert 'there is no method "geen-methode"' in capsys.readouterr().err


def test_auto_advance_phases_keep_their_full_time_in_a_rehearsal():
    m = Method("m", "M", "nl", (
        Phase("a", "A", Duration(5 * M, 5 * M), cues=Cues(auto_advance=True)),
        Phase("b", "B", Duration(10 * M, 10 * M)),
    ))
    events = rehearse(m).events
    assert [(e["t"], e["kind"]) for e in events if e["kind"] in ("phase_start", "session_end")] == [
        (0.0, "phase_start"), (300.0, "phase_start"), (900.0, "session_end")]
