"""Per study treatment: causality and action of each AE per drug, what they do to the doses, doses
not given and infusions stopped early, and the contacts of subjects lost to follow-up."""

from __future__ import annotations

import polars as pl
from simulate_checks import ae_per_drug, earliest, latest, per_drug_fields, to_date


def arms(frames) -> pl.DataFrame:
    return frames["RAND"].select("SUBJID", "TRTGRP", to_date("RANDDAT").alias("rand"))


def test_the_ae_form_asks_about_each_drug_the_subject_receives(default, spec, cfg):
    fields = per_drug_fields(spec)
    assert set(fields) == {d.drug for a in cfg.arms for d in a.drugs}
    ae = default["AE"].join(arms(default), on="SUBJID")
    for arm in cfg.arms:
        mine = ae.filter(pl.col("TRTGRP") == arm.code)
        assert mine.height > 0
        for drug, (rel, acn) in fields.items():
            asked = drug in {d.drug for d in arm.drugs}
            for col in (rel, acn):
                assert mine[col].null_count() == (0 if asked else mine.height), (arm.code, col)


def test_causality_follows_the_drug_class_in_the_combination_arm(large, spec):
    per = ae_per_drug(large["AE"], spec).join(arms(large), on="SUBJID").filter(pl.col("TRTGRP") == "B")

    def related(term, drug):
        d = per.filter((pl.col("AEDECOD") == term) & (pl.col("EXTRT") == drug))
        assert d.height > 100
        return (d["REL"] == "2").mean()

    # anti-CD47 anaemia: ligufalimab, not ivonescimab; anti-VEGF hypertension: the reverse
    assert related("Anaemia", "LIGUFALIMAB") > 0.6 and related("Anaemia", "IVONESCIMAB") < 0.15
    assert related("Hypertension", "IVONESCIMAB") > 0.8 and related("Hypertension", "LIGUFALIMAB") < 0.1
    # the two drugs often get different actions for one event
    wide = per.pivot(on="EXTRT", index=["SUBJID", "AESPID"], values="ACN")
    differ = wide.filter(pl.col("IVONESCIMAB") != pl.col("LIGUFALIMAB"))
    assert differ.height > 0.02 * wide.height
    assert differ.filter((pl.col("IVONESCIMAB") == "1") & (pl.col("LIGUFALIMAB") == "2")).height > 0


def _doses(frames) -> pl.DataFrame:
    return frames["EX"].join(frames["SV"].select("SUBJID", "FOLDER", to_date("VISDAT").alias("visit")),
                             on=["SUBJID", "FOLDER"], how="left")


def test_a_dose_not_given_for_an_adverse_event_follows_an_interruption_of_that_drug(default, spec):
    ex = _doses(default)
    assert ex["visit"].null_count() == 0  # every dosing record, given or not, is a visit that took place
    held = ex.filter((pl.col("EXYN") == "N") & (pl.col("EXREASND") == "1"))
    assert held.height > 0
    # the previous scheduled visit of the subject
    visits = ex.select("SUBJID", "visit").unique().sort("SUBJID", "visit").with_columns(
        pl.col("visit").shift(1).over("SUBJID").alias("previous"))
    held = held.join(visits, on=["SUBJID", "visit"])
    interrupted = ae_per_drug(default["AE"], spec).filter(pl.col("ACN") == "2").select(
        "SUBJID", "EXTRT", earliest("AESTDAT").alias("onset"), latest("AESTDAT").alias("onset_max"))
    explained = held.join(interrupted, on=["SUBJID", "EXTRT"]).filter(  # onset possibly within the interval
        (pl.col("onset") <= pl.col("visit")) & (pl.col("onset_max") >= pl.col("previous")))
    assert explained.select("SUBJID", "FOLDER", "EXTRT").unique().height == held.height


def test_a_withdrawn_drug_is_not_given_again_and_the_other_may_continue(default, spec):
    ex = _doses(default)
    withdrawn = ae_per_drug(default["AE"], spec).filter(pl.col("ACN") == "3").group_by("SUBJID", "EXTRT").agg(
        latest("AESTDAT").min().alias("onset"))   # a partial onset: its latest possible date
    later = ex.join(withdrawn, on=["SUBJID", "EXTRT"]).filter(pl.col("visit") > pl.col("onset"))
    assert later.height == 0
    # in the combination arm the drug not withdrawn goes on being given after the other one stopped
    both = ex.join(arms(default), on="SUBJID").filter(pl.col("TRTGRP") == "B")
    alone = both.join(withdrawn, on=["SUBJID", "EXTRT"], how="anti").join(
        withdrawn.select("SUBJID", pl.col("onset").alias("other_stopped")), on="SUBJID").filter(
        (pl.col("visit") > pl.col("other_stopped")) & (pl.col("EXYN") == "Y"))
    assert alone.height > 0


def test_ligufalimab_without_same_day_ivonescimab_says_why(default):
    """The second drug of the combination given alone: the first one has a record that it was not
    given, with the reason, or was withdrawn before (no record)."""
    ex = default["EX"].join(arms(default), on="SUBJID").filter(pl.col("TRTGRP") == "B")
    lig = ex.filter((pl.col("EXTRT") == "LIGUFALIMAB") & (pl.col("EXYN") == "Y")).select("SUBJID", "FOLDER")
    ivo = ex.filter(pl.col("EXTRT") == "IVONESCIMAB").select("SUBJID", "FOLDER", "EXYN", "EXREASND")
    alone = lig.join(ivo, on=["SUBJID", "FOLDER"], how="left").filter(pl.col("EXYN").ne_missing("Y"))
    assert alone.height > 0
    recorded = alone.filter(pl.col("EXYN") == "N")
    assert recorded["EXREASND"].null_count() == 0
    # no ivonescimab record at all: it was withdrawn earlier
    no_record = alone.filter(pl.col("EXYN").is_null())["SUBJID"].unique()
    last_ivo = ex.filter(pl.col("EXTRT") == "IVONESCIMAB").group_by("SUBJID").agg(pl.col("FOLDER").max())
    assert no_record.is_in(last_ivo["SUBJID"].implode()).all()


def test_subjects_lost_to_follow_up_had_real_contacts_before(default, midcut):
    for f in (default, midcut):
        lost = f["EOS"].filter(pl.col("EOSREAS") == "4").select("SUBJID", to_date("EOSDAT").alias("ltfu"))
        assert lost.height > 0
        visits = f["SV"].select("SUBJID", to_date("VISDAT").alias("d"))
        alive = f["FU"].filter(pl.col("FUSTAT") == "1").select("SUBJID", to_date("FUDAT").alias("d"))
        contacts = pl.concat([visits, alive]).join(arms(f), on="SUBJID").filter(pl.col("d") > pl.col("rand"))
        last = lost.join(contacts.group_by("SUBJID").agg(pl.max("d").alias("last")), on="SUBJID", how="left")
        # a real contact after randomization, and the last one before the subject was declared lost
        assert last["last"].null_count() == 0 and (last["last"] < last["ltfu"]).all()
        # failed attempts (status unknown) between the last contact and the declaration
        tried = f["FU"].filter(pl.col("FUSTAT") == "3").select("SUBJID", to_date("FUDAT").alias("t")).join(last, on="SUBJID")
        assert tried.filter((pl.col("t") > pl.col("last")) & (pl.col("t") <= pl.col("ltfu")))["SUBJID"].n_unique() == lost.height
    # some were in survival follow-up (alive contacts) before being lost
    alive = default["FU"].filter(pl.col("FUSTAT") == "1")["SUBJID"]
    lost = default["EOS"].filter(pl.col("EOSREAS") == "4")["SUBJID"]
    assert lost.is_in(alive.implode()).any()


def test_death_dates_agree_between_death_details_and_end_of_study(default, midcut):
    for f in (default, midcut):
        dd = f["DD"].select("SUBJID", "DTHDAT", earliest("DTHDAT").alias("lo"), (
            pl.when(pl.col("DTHDAT").str.starts_with("UN")).then(earliest("DTHDAT").dt.month_end())
            .otherwise(to_date("DTHDAT"))).alias("hi"))
        eos = f["EOS"].filter(pl.col("EOSREAS") == "2").select("SUBJID", to_date("EOSDAT").alias("eos"))
        j = dd.join(eos, on="SUBJID", how="full", coalesce=True)
        assert j.height == dd.height == eos.height
        assert j.filter((pl.col("eos") < pl.col("lo")) | (pl.col("eos") > pl.col("hi"))).height == 0
        assert (j.filter(~pl.col("DTHDAT").str.starts_with("UN"))["eos"]
                == j.filter(~pl.col("DTHDAT").str.starts_with("UN"))["lo"]).all()


def test_no_dose_after_death_and_none_for_screen_failures(default):
    death = default["DD"].select("SUBJID", earliest("DTHDAT").alias("death"))
    ex = default["EX"].filter(pl.col("EXYN") == "Y").select("SUBJID", to_date("EXSTDAT").alias("d"))
    assert ex.join(death, on="SUBJID").filter(pl.col("d") >= pl.col("death")).height == 0
    assert ex["SUBJID"].is_in(default["RAND"]["SUBJID"].implode()).all()
