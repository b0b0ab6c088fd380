//! Delivery: the Istio `WasmPlugin` manifest (`examples/istio/`) carries a bundle the filter
//! loads, and the filter accepts the JSON plugin configuration Istio hands it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use waap_e2e::client::build_request;
use waap_e2e::echo::EchoServer;
use waap_e2e::envoy::{self, workspace_root, Envoy, EnvoyOptions, WasmFilter};
use waap_e2e::render::render_istio;

/// Kubernetes objects (a ConfigMap, a CRD instance) must stay under 1 MiB.
const K8S_OBJECT_LIMIT: usize = 1024 * 1024;

fn basic_bundle() -> Vec<u8> {
    waap_policy_compiler::compile_file(&workspace_root().join("examples/basic/policy.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .bundle
}

#[test]
fn istio_wasmplugin_manifest_has_the_required_fields_and_a_loadable_bundle() {
    let bundle = basic_bundle();
    let text = render_istio(
        "oci://registry.example.com/waap/filter:0.1.0",
        &bundle,
        "r1",
    )
    .unwrap();
    assert!(
        text.len() < K8S_OBJECT_LIMIT,
        "manifest is {} bytes",
        text.len()
    );
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        doc["apiVersion"].as_str(),
        Some("extensions.istio.io/v1alpha1")
    );
    assert_eq!(doc["kind"].as_str(), Some("WasmPlugin"));
    assert_eq!(doc["metadata"]["name"].as_str(), Some("waap"));
    assert!(doc["spec"]["selector"]["matchLabels"].is_mapping());
    assert_eq!(
        doc["spec"]["url"].as_str(),
        Some("oci://registry.example.com/waap/filter:0.1.0")
    );
    assert_eq!(doc["spec"]["failStrategy"].as_str(), Some("FAIL_CLOSE"));
    // Istio gives pluginConfig to the filter as JSON text: the same path the filter takes.
    let b64 = doc["spec"]["pluginConfig"]["bundle"].as_str().unwrap();
    let json = format!("{{\"bundle\":\"{b64}\"}}");
    let loaded = waap_engine::bundle_from_plugin_config(json.into_bytes()).unwrap();
    assert_eq!(loaded, bundle);
    waap_engine::Engine::load(loaded).unwrap();
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn filter_loads_a_json_plugin_configuration_with_a_base64_bundle() {
    let bundle = basic_bundle();
    let json = format!("{{\"bundle\": \"{}\"}}", waap_e2e::base64::encode(&bundle));
    let echo = EchoServer::start("127.0.0.1:0").unwrap();
    let filter = WasmFilter {
        wasm: envoy::wasm_path().unwrap(),
        bundle: json.into_bytes(),
    };
    let envoy = Envoy::start(&EnvoyOptions::new(echo.port(), Some(filter))).unwrap();
    let xss = envoy
        .send(&build_request(
            "GET",
            "/search?q=%3Cscript%3E",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(xss.status, 403, "{}", xss.text());
    let ok = envoy
        .send(&build_request(
            "GET",
            "/search?q=shoes",
            &[("Host", "localhost")],
            b"",
        ))
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.text());
}
