import json

from click.testing import CliRunner

from callcenter.cli import main


def test_ids_check_reports_valid_and_invalid_ids_as_json_and_fails():
    result = CliRunner().invoke(main, ["ids", "check", "--json", "340524800101001", "110105194912310021"])
    assert result.exit_code == 1
    good, bad = json.loads(result.output)
    assert good["valid"] and good["national_id"] == "34052419800101001X" and good["province"] == "安徽省"
    assert not bad["valid"] and "check digit" in bad["reason"]


def test_ids_check_succeeds_when_all_are_valid():
    result = CliRunner().invoke(main, ["ids", "check", "11010519491231002X"])
    assert result.exit_code == 0
    assert "valid 11010519491231002X" in result.output and "1949-12-31" in result.output
