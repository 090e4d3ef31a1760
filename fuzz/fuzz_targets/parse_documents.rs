//! Fuzzes the two readers of web-app answers, Piston JSON and TwiML: any bytes must give a
//! validated flow or an error, never a panic, within the flow limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pivot::callflow::FlowLimits;
use pivot::pivot::{piston::parse_piston, twiml::parse_twiml};

fuzz_target!(|data: &[u8]| {
    let limits = FlowLimits::default();
    if let Ok(node) = parse_piston(data, &limits) {
        assert!(node.count() <= limits.max_nodes);
    }
    let base = url::Url::parse("http://fuzz.invalid/voice").expect("constant URL");
    if let Ok(node) = parse_twiml(data, &base, &limits) {
        assert!(node.count() <= limits.max_nodes);
    }
});
