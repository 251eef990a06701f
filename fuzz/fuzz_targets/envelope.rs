//! Fuzzes the WS-Management envelope decoders, both sides: request parsing (device side) with
//! typed dispatch, response parsing (console side) with typed conversion, and build→parse
//! round trips of whatever parsed.
#![no_main]

use amt_wsman::classes::{Call, MethodResult, TypedInstance};
use amt_wsman::{Request, Response, ResponseBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::parse(data) {
        let _ = Call::from_request(&req);
        let again = Request::parse(req.to_xml().as_bytes()).expect("our own request XML parses");
        assert_eq!(again.op, req.op);
    }
    if let Ok(resp) = Response::parse(data) {
        match &resp.body {
            ResponseBody::Get(i) => {
                let _ = TypedInstance::from_instance(i);
            }
            ResponseBody::Invoke { method, output } => {
                let class = resp.header.resource_uri.as_deref().unwrap_or_default();
                let _ = MethodResult::decode(class, method, output);
            }
            _ => {}
        }
        let _ = Response::parse(resp.to_xml().as_bytes()).expect("our own response XML parses");
    }
});
