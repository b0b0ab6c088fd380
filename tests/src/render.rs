//! Renders the Envoy bootstrap (`envoy/envoy.yaml.tmpl`) and the ECDS resource
//! (`envoy/ecds.yaml.tmpl`). Both templates are compiled in, so `waap-devtool`, `make run`
//! and the e2e harness render exactly the same text.

use crate::{base64, Error, Result};
use std::fs;
use std::io::Write;
use std::path::Path;

/// The bootstrap template.
pub const BOOTSTRAP_TEMPLATE: &str = include_str!("../../envoy/envoy.yaml.tmpl");
/// The ECDS resource template.
pub const ECDS_TEMPLATE: &str = include_str!("../../envoy/ecds.yaml.tmpl");

const FILTER_BEGIN: &str = "# @waap-filter-begin";
const FILTER_END: &str = "# @waap-filter-end";
const ACCESS_LOG_BEGIN: &str = "# @waap-access-log-begin";
const ACCESS_LOG_END: &str = "# @waap-access-log-end";

/// What the bootstrap is rendered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    pub listen_port: u16,
    pub admin_port: u16,
    pub upstream_host: String,
    pub upstream_port: u16,
    /// The ECDS file holding the waap filter; `None` renders the chain without the filter
    /// (router only), for tests of the harness itself.
    pub ecds_path: Option<String>,
    /// Writes an access log line per request on stdout, with the filter's audit record
    /// (`%FILTER_STATE(wasm.waap_audit:PLAIN)%`); benchmarks leave it out.
    pub access_log: bool,
}

impl Bootstrap {
    /// `make run`'s defaults: listener 10000, admin 9901, echo upstream on 18080.
    pub fn for_example(example: &str) -> Bootstrap {
        Bootstrap {
            listen_port: 10000,
            admin_port: 9901,
            upstream_host: "127.0.0.1".into(),
            upstream_port: 18080,
            ecds_path: Some(format!("target/run/{example}.ecds.yaml")),
            access_log: true,
        }
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    let mut out = String::new();
    crate::json::write_string(&mut out, s);
    out
}

/// Replaces every `${NAME}` with its value; an unknown or unclosed placeholder is an error.
pub fn substitute(template: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| Error::new("template: unclosed ${ placeholder"))?;
        let name = &after[..end];
        let value = vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| Error::new(format!("template: no value for ${{{name}}}")))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Removes the lines from `# @waap-filter-begin` to `# @waap-filter-end`, or just the two
/// marker lines when `keep` is set.
fn filter_section(template: &str, keep: bool) -> Result<String> {
    section(template, FILTER_BEGIN, FILTER_END, keep)
}

/// Removes the lines from `begin` to `end`, or just the two marker lines when `keep` is set.
fn section(template: &str, begin: &str, end: &str, keep: bool) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut inside = false;
    let mut seen = false;
    for line in template.split_inclusive('\n') {
        let t = line.trim();
        if t == begin {
            inside = true;
            seen = true;
        } else if t == end {
            inside = false;
        } else if keep || !inside {
            out.push_str(line);
        }
    }
    if inside || !seen {
        return Err(Error::new(format!(
            "template: markers {begin} / {end} missing or unbalanced"
        )));
    }
    Ok(out)
}

/// Renders the bootstrap template.
pub fn render_bootstrap(b: &Bootstrap) -> Result<String> {
    let text = filter_section(BOOTSTRAP_TEMPLATE, b.ecds_path.is_some())?;
    let text = section(&text, ACCESS_LOG_BEGIN, ACCESS_LOG_END, b.access_log)?;
    substitute(
        &text,
        &[
            ("LISTEN_PORT", b.listen_port.to_string()),
            ("ADMIN_PORT", b.admin_port.to_string()),
            ("UPSTREAM_HOST", quoted(&b.upstream_host)),
            ("UPSTREAM_PORT", b.upstream_port.to_string()),
            ("ECDS_PATH", quoted(b.ecds_path.as_deref().unwrap_or(""))),
        ],
    )
}

/// An HTTP/2 cluster on 127.0.0.1:`port` (a gRPC service such as the rate-limit service),
/// as YAML to append to a rendered bootstrap (whose last section is `clusters:`).
pub fn grpc_cluster(name: &str, port: u16) -> String {
    format!(
        r#"    - name: {name}
      type: STATIC
      connect_timeout: 1s
      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config:
            http2_protocol_options: {{}}
      load_assignment:
        cluster_name: {name}
        endpoints:
          - lb_endpoints:
              - endpoint:
                  address:
                    socket_address: {{ address: 127.0.0.1, port_value: {port} }}
"#
    )
}

/// A named route of the listener's route table; every route goes to the upstream cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRoute {
    /// The route's name (what the filter reads as `xds.route_name`).
    pub name: String,
    /// Its path prefix.
    pub prefix: String,
}

impl NamedRoute {
    /// A route `name` for paths starting with `prefix`.
    pub fn new(name: &str, prefix: &str) -> NamedRoute {
        NamedRoute {
            name: name.into(),
            prefix: prefix.into(),
        }
    }
}

/// The template's route table: one unnamed catch-all route.
const DEFAULT_ROUTES: &str = "                      routes:\n                        - match: { prefix: \"/\" }\n                          route: { cluster: upstream }\n";

/// The named routes of an example whose route table differs from the template's (the
/// policy-set example selects its policies by route name).
pub fn example_routes(example: &str) -> Vec<NamedRoute> {
    match example {
        "multi" => vec![
            NamedRoute::new("admin", "/admin/"),
            NamedRoute::new("public", "/"),
        ],
        _ => Vec::new(),
    }
}

/// Replaces the rendered bootstrap's route table by `routes`, in order (first match wins);
/// no routes leaves the template's.
pub fn with_routes(rendered: &str, routes: &[NamedRoute]) -> Result<String> {
    if routes.is_empty() {
        return Ok(rendered.to_string());
    }
    if !rendered.contains(DEFAULT_ROUTES) {
        return Err(Error::new("bootstrap template: route table not found"));
    }
    let mut table = String::from("                      routes:\n");
    for r in routes {
        table.push_str(&format!(
            "                        - name: {}\n                          match: {{ prefix: {} }}\n                          route: {{ cluster: upstream }}\n",
            quoted(&r.name),
            quoted(&r.prefix)
        ));
    }
    Ok(rendered.replacen(DEFAULT_ROUTES, &table, 1))
}

/// Renders the bootstrap for `examples/<example>`: the template with the example's routes.
pub fn render_example(b: &Bootstrap, example: &str) -> Result<String> {
    with_routes(&render_bootstrap(b)?, &example_routes(example))
}

/// Renders the ECDS resource: the wasm filter with `bundle` as its BytesValue configuration.
pub fn render_ecds(wasm_path: &str, bundle: &[u8], version: &str) -> Result<String> {
    substitute(
        ECDS_TEMPLATE,
        &[
            ("VERSION", version.replace(['"', '\\', '\n'], "_")),
            ("WASM_PATH", quoted(wasm_path)),
            ("BUNDLE_BASE64", quoted(&base64::encode(bundle))),
        ],
    )
}

/// The Istio `WasmPlugin` template (`examples/istio/wasmplugin.yaml.tmpl`).
pub const ISTIO_TEMPLATE: &str = include_str!("../../examples/istio/wasmplugin.yaml.tmpl");

/// Renders the Istio `WasmPlugin` carrying `bundle` (base64 in `pluginConfig.bundle`).
pub fn render_istio(wasm_url: &str, bundle: &[u8], revision: &str) -> Result<String> {
    substitute(
        ISTIO_TEMPLATE,
        &[
            ("REVISION", revision.replace(['"', '\\', '\n'], "_")),
            ("WASM_URL", quoted(wasm_url)),
            ("BUNDLE_BASE64", base64::encode(bundle)),
        ],
    )
}

/// The policy ConfigMap template for plain Envoy (`examples/kubernetes/configmap.yaml.tmpl`).
pub const KUBERNETES_CONFIGMAP_TEMPLATE: &str =
    include_str!("../../examples/kubernetes/configmap.yaml.tmpl");

/// Renders the `waap-policy` ConfigMap: its key `waap.ecds.yaml` is the ECDS resource
/// (as [`render_ecds`] writes it, version `revision`) with `bundle` inside.
pub fn render_kubernetes_configmap(
    wasm_path: &str,
    bundle: &[u8],
    revision: &str,
) -> Result<String> {
    let ecds = render_ecds(wasm_path, bundle, revision)?;
    let indented: Vec<String> = ecds
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("    {l}")
            }
        })
        .collect();
    substitute(
        KUBERNETES_CONFIGMAP_TEMPLATE,
        &[
            ("REVISION", revision.replace(['"', '\\', '\n'], "_")),
            ("ECDS_INDENTED", indented.join("\n")),
        ],
    )
}

/// Writes `contents` to a temporary file beside `path`, then renames it over `path`: readers
/// (and Envoy's file watcher, which only notices renames) never see a partial file.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::new(format!("writing {}: {e}", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_rejects_unknown_placeholders() {
        assert_eq!(
            substitute("a ${X} b", &[("X", "1".into())]).unwrap(),
            "a 1 b"
        );
        assert!(substitute("a ${Y}", &[("X", "1".into())]).is_err());
        assert!(substitute("a ${X", &[("X", "1".into())]).is_err());
    }

    #[test]
    fn bootstrap_without_ecds_has_no_waap_filter() {
        let mut b = Bootstrap::for_example("basic");
        let with = render_bootstrap(&b).unwrap();
        assert!(
            with.contains("config_discovery") && with.contains("\"target/run/basic.ecds.yaml\"")
        );
        b.ecds_path = None;
        let without = render_bootstrap(&b).unwrap();
        assert!(
            !without.contains("config_discovery") && without.contains("envoy.filters.http.router")
        );
        assert!(!without.contains("${") && !with.contains("${"));
    }

    #[test]
    fn access_log_with_the_audit_filter_state_is_optional() {
        let mut b = Bootstrap::for_example("basic");
        let with = render_bootstrap(&b).unwrap();
        assert!(with.contains("%FILTER_STATE(wasm.waap_audit:PLAIN)%"));
        b.access_log = false;
        let without = render_bootstrap(&b).unwrap();
        assert!(!without.contains("access_loggers.stdout") && !without.contains("@waap-"));
    }

    #[test]
    fn example_routes_replace_the_route_table() {
        let b = Bootstrap::for_example("multi");
        let text = render_example(&b, "multi").unwrap();
        assert!(text.contains(
            "- name: \"admin\"\n                          match: { prefix: \"/admin/\" }"
        ));
        assert!(!text.contains(DEFAULT_ROUTES));
        assert_eq!(
            render_example(&b, "basic").unwrap(),
            render_bootstrap(&b).unwrap()
        );
    }

    #[test]
    fn ecds_carries_the_bundle_as_base64_bytes_value() {
        let text = render_ecds("/x/waap_filter.wasm", b"foobar", "7").unwrap();
        assert!(text.contains("value: \"Zm9vYmFy\""));
        assert!(text.contains("filename: \"/x/waap_filter.wasm\""));
        assert!(
            text.contains("google.protobuf.BytesValue") && text.contains("version_info: \"7\"")
        );
    }
}
