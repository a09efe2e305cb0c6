//! Runs altcha-lib (tests/node/altcha.mjs) on Node.

use serde_json::Value;

#[path = "../shared/node.rs"]
mod runner;

pub(crate) use runner::node;

/// Runs a batch of operations (see altcha.mjs) and returns their results in order.
pub(crate) fn altcha_lib(ops: &[Value]) -> Vec<Value> {
    let results = node("altcha.mjs", &Value::from(ops.to_vec()));
    let results = results.as_array().expect("an array of results").clone();
    assert_eq!(results.len(), ops.len());
    results
}

/// One operation.
pub(crate) fn altcha_lib_one(op: Value) -> Value {
    altcha_lib(&[op]).remove(0)
}
