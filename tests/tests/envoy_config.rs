//! Every Envoy configuration in the repository is valid (`envoy --mode validate`), and the
//! checked-in renders stay in sync with the template.

use std::fs;
use std::path::{Path, PathBuf};
use waap_e2e::envoy::{self, workspace_root, TempDir};
use waap_e2e::render::{self, Bootstrap};
use waap_e2e::Result;

/// The example directories that have an envoy.yaml.
fn example_configs() -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(workspace_root().join("examples"))? {
        let dir = entry?.path();
        let config = dir.join("envoy.yaml");
        if config.is_file() {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((name, config));
        }
    }
    out.sort();
    Ok(out)
}

/// Validates `text` as if it were run from a fresh checkout: every `*.ecds.yaml` it names is
/// created in a scratch directory (absolute container paths are mapped into it, relative
/// paths resolve against it, which is Envoy's working directory).
fn validate_text(name: &str, text: &str) -> Result<String> {
    let dir = TempDir::new("waap-validate")?;
    let mut text = text.to_string();
    let ecds_paths: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .filter(|w| w.ends_with(".ecds.yaml"))
        .map(str::to_string)
        .collect();
    let wasm =
        envoy::wasm_path().unwrap_or_else(|_| PathBuf::from("/nonexistent/waap_filter.wasm"));
    let ecds = render::render_ecds(
        &wasm.to_string_lossy(),
        b"not a bundle: validate does not load it",
        "1",
    )?;
    for p in ecds_paths {
        let local = if Path::new(&p).is_absolute() {
            let mapped = dir
                .path()
                .join(Path::new(&p).strip_prefix("/").unwrap_or(Path::new(&p)));
            text = text.replace(&p, &mapped.to_string_lossy());
            mapped
        } else {
            dir.path().join(&p)
        };
        if let Some(parent) = local.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&local, &ecds)?;
    }
    let config = dir.path().join(name);
    fs::write(&config, text)?;
    envoy::validate(&config, dir.path())
}

#[test]
fn example_envoy_configs_are_renders_of_the_template() {
    let examples = example_configs().unwrap();
    assert!(!examples.is_empty(), "no examples/*/envoy.yaml found");
    for (name, path) in examples {
        let expected = render::render_example(&Bootstrap::for_example(&name), &name).unwrap();
        let actual = fs::read_to_string(&path).unwrap();
        assert!(
            actual == expected,
            "{} is out of date with envoy/envoy.yaml.tmpl; regenerate it with\n  cargo run -p waap-e2e --bin waap-devtool -- render --example {name} -o {}",
            path.display(),
            path.display()
        );
    }
}

/// The config file that envoy/docker-compose.yml mounts at /etc/envoy/envoy.yaml.
fn docker_compose_envoy_config() -> Result<PathBuf> {
    let compose_path = workspace_root().join("envoy/docker-compose.yml");
    let text = fs::read_to_string(&compose_path)?;
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| waap_e2e::Error::new(e.to_string()))?;
    let envoy = &compose["services"]["envoy"];
    assert_eq!(envoy["image"].as_str(), Some("envoyproxy/envoy:v1.40.0"));
    let volumes = envoy["volumes"].as_sequence().cloned().unwrap_or_default();
    let source = volumes
        .iter()
        .filter_map(|v| v.as_str())
        .find_map(|v| {
            let mut parts = v.split(':');
            let src = parts.next()?;
            (parts.next()? == "/etc/envoy/envoy.yaml").then(|| src.to_string())
        })
        .ok_or_else(|| {
            waap_e2e::Error::new("docker-compose.yml mounts no /etc/envoy/envoy.yaml")
        })?;
    Ok(workspace_root().join("envoy").join(source))
}

#[test]
fn docker_compose_mounts_an_existing_envoy_config() {
    let config = docker_compose_envoy_config().unwrap();
    assert!(config.is_file(), "{} does not exist", config.display());
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn docker_compose_envoy_config_validates() {
    let config = docker_compose_envoy_config().unwrap();
    let text = fs::read_to_string(&config).unwrap();
    validate_text("docker-envoy.yaml", &text).unwrap();
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn example_envoy_configs_validate() {
    for (name, path) in example_configs().unwrap() {
        let text = fs::read_to_string(&path).unwrap();
        validate_text(&format!("{name}.envoy.yaml"), &text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn rendered_templates_validate_with_and_without_the_filter() {
    let mut b = Bootstrap {
        listen_port: 10000,
        admin_port: 9901,
        upstream_host: "127.0.0.1".into(),
        upstream_port: 18080,
        ecds_path: Some("/run/waap/test.ecds.yaml".into()),
        access_log: true,
    };
    validate_text("with-filter.yaml", &render::render_bootstrap(&b).unwrap()).unwrap();
    b.ecds_path = None;
    b.access_log = false;
    validate_text(
        "without-filter.yaml",
        &render::render_bootstrap(&b).unwrap(),
    )
    .unwrap();
}

#[test]
#[ignore = "needs Envoy, the wasm build and waapc: run `make test`"]
fn every_yaml_config_under_envoy_validates() {
    let dir = workspace_root().join("envoy");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Templates are validated through their renders; compose files are not Envoy configs.
        if !(file.ends_with(".yaml") || file.ends_with(".yml"))
            || file.starts_with("docker-compose")
        {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        validate_text(&file, &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen > 0, "no Envoy configs under {}", dir.display());
}
