//! The shareable HTML report.

use crate::check::ScriptResult;
use crate::run::runner::RunReport;

pub fn report_html(_report: &RunReport, _source: &str, _check: Option<&ScriptResult>) -> String {
    String::new()
}
