"""The ADaM spec workbook and the derivation configuration agree with each other."""

from .helpers import spec_and_config


def test_config_sheets_agree_with_the_dataset_metadata():
    spec, config = spec_and_config()
    adsl, adae = spec.dataset("ADSL").variable_names, spec.dataset("ADAE").variable_names
    assert {s.variable for s in config.adsl_sources} <= set(adsl)
    paramcds = spec.codelist("PARAMCD_TTE").values
    params = spec.codelist("PARAM_TTE").values
    assert [p.paramcd for p in config.tte_parameters] == paramcds
    assert [p.param for p in config.tte_parameters] == params
    for p in config.tte_parameters:
        assert all(s.censor > 0 for s in p.censors) and all(s.censor == 0 for s in p.events)
    for term in config.aesi:
        assert term.variable in adae
        assert term.category in spec.codelist(term.variable).values
    flags = config.build("ADAE").param_dict
    assert flags["flag_variable"] in adae and flags["flag_sets"] in adae
    assert config.settings.control_armcd in dict(config.settings.trt_codes)
    assert sorted(spec.codelist("TRTN").decode_map().values()) == sorted(spec.codelist("TRT").values)


def test_pfs_declares_the_fda_censoring_rules_in_priority_order():
    _, config = spec_and_config()
    pfs = next(p for p in config.tte_parameters if p.paramcd == "PFS")
    assert [s.name for s in pfs.events] == ["pd", "death"]
    builders = [s.builder for s in pfs.censors]
    assert builders[:2] == ["last_before_nact", "after_missed_assessments"]
    missed = pfs.censors[1].param_dict
    assert (missed["intervals"], missed["switch_day"], missed["window"], missed["missed"]) == ("42,63", "365", "7", "2")


def test_every_exposure_parameter_has_its_define_xml_metadata():
    """ADEX parameters (sheet Exposure Parameters) each have a where clause PARAMCD EQ <code>, a
    value-level row on AVAL or AVALC with the parameter's label and a method MT.ADEX.<PARAMCD>."""
    spec, config = spec_and_config()
    vlm = {v.where_clause: v for v in spec.value_level if v.dataset == "ADEX"}
    assert config.exposure_parameters
    for p in config.exposure_parameters:
        wc = spec.where_clauses[f"WC.ADEX.{p.paramcd}"]
        assert wc.conditions == (("ADEX", "PARAMCD", "EQ", (p.paramcd,)),)
        v = vlm[wc.id]
        assert v.label == p.param and v.method == f"MT.ADEX.{p.paramcd}" and v.method in spec.methods
        assert v.variable == ("AVALC" if p.kind in ("first_dose", "last_dose") else "AVAL")
    assert len(vlm) == len(config.exposure_parameters)
    assert spec.codelist("PARAMCD_EX").values == [p.paramcd for p in config.exposure_parameters]
    assert spec.codelist("PARAM_EX").values == [p.param for p in config.exposure_parameters]
