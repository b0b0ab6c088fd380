//! The challenge page: self-contained HTML with an inline JavaScript SHA-256 proof of work
//! (no external assets, no `crypto.subtle`, which plain-HTTP origins do not get), and an
//! optional `<noscript>` meta-refresh fallback.

/// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~ /`: the result is safe inside a
/// query value, a JavaScript string and an HTML attribute.
pub fn encode_component(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as space); malformed escapes are kept as they are.
pub fn decode_component(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let hexv = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hexv),
                s.get(i + 2).copied().and_then(hexv),
            ) {
                out.push((h << 4) | l);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

/// The JavaScript SHA-256 and solver: finds the first counter `c` such that
/// SHA-256(`N + ":" + c`) has `D` leading zero bits, then navigates to the solution path.
const SCRIPT: &str = r#"(function(){
var K=[0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
function r(x,n){return (x>>>n)|(x<<(32-n));}
function sha256(s){
var m=[],i,t;for(i=0;i<s.length;i++)m.push(s.charCodeAt(i)&255);
var bl=m.length*8;m.push(128);while(m.length%64!=56)m.push(0);
m.push(0,0,0,0,(bl>>>24)&255,(bl>>>16)&255,(bl>>>8)&255,bl&255);
var H=[0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19],w=new Array(64);
for(var o=0;o<m.length;o+=64){
for(t=0;t<16;t++)w[t]=(m[o+4*t]<<24)|(m[o+4*t+1]<<16)|(m[o+4*t+2]<<8)|m[o+4*t+3];
for(t=16;t<64;t++){var x=w[t-15],y=w[t-2];w[t]=(w[t-16]+(r(x,7)^r(x,18)^(x>>>3))+w[t-7]+(r(y,17)^r(y,19)^(y>>>10)))|0;}
var a=H[0],b=H[1],c=H[2],d=H[3],e=H[4],f=H[5],g=H[6],h=H[7];
for(t=0;t<64;t++){var t1=(h+(r(e,6)^r(e,11)^r(e,25))+((e&f)^(~e&g))+K[t]+w[t])|0;
var t2=((r(a,2)^r(a,13)^r(a,22))+((a&b)^(a&c)^(b&c)))|0;h=g;g=f;f=e;e=(d+t1)|0;d=c;c=b;b=a;a=(t1+t2)|0;}
H[0]=(H[0]+a)|0;H[1]=(H[1]+b)|0;H[2]=(H[2]+c)|0;H[3]=(H[3]+d)|0;H[4]=(H[4]+e)|0;H[5]=(H[5]+f)|0;H[6]=(H[6]+g)|0;H[7]=(H[7]+h)|0;}
return H;}
function bits(H){var n=0;for(var i=0;i<8;i++){var z=Math.clz32(H[i]);n+=z;if(z<32)break;}return n;}
if(typeof module!=="undefined"){module.exports={sha256:sha256,bits:bits};return;}
var c=0;function step(){for(var i=0;i<20000;i++,c++){if(bits(sha256(N+":"+c))>=D){
location.replace(P+"?n="+encodeURIComponent(N)+"&s="+c+"&r="+R);return;}}
document.getElementById("s").textContent="Checking your browser… ("+c+" hashes)";setTimeout(step,0);}
setTimeout(step,0);
})();"#;

/// The challenge page for `nonce` at `difficulty`, posting solutions to `path` and then
/// returning to `return_to` (the original request target). With `nojs_delay`, a
/// `<noscript>` meta refresh sends clients without JavaScript to the fallback after that
/// many seconds.
pub fn challenge_html(
    nonce: &str,
    difficulty: u8,
    path: &str,
    return_to: &[u8],
    nojs_delay: Option<u32>,
) -> String {
    let r = encode_component(return_to);
    let n = encode_component(nonce.as_bytes());
    let p = encode_component(path.as_bytes());
    let refresh = match nojs_delay {
        Some(s) => format!(
            "<noscript><meta http-equiv=\"refresh\" content=\"{s};url={p}?n={n}&amp;nojs=1&amp;r={r}\"></noscript>"
        ),
        None => String::new(),
    };
    let nojs_text = if nojs_delay.is_some() {
        "Without JavaScript you will be redirected in a few seconds (cookies are required)."
    } else {
        "This check needs JavaScript and cookies."
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex,nofollow\"><meta name=\"viewport\" content=\"width=device-width\"><title>Checking your browser</title>{refresh}<style>body{{font-family:system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}}</style></head><body><h1>One moment…</h1><p id=\"s\">Checking your browser (a short computation).</p><noscript><p>{nojs_text}</p></noscript><script>var N=\"{n}\",D={difficulty},P=\"{p}\",R=\"{r}\";\n{SCRIPT}</script></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_round_trip_and_encode_everything_unsafe() {
        let raw = b"/app/x?a=1&b=<\"'>%20 \n";
        let e = encode_component(raw);
        assert!(
            e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
            "{e}"
        );
        assert_eq!(decode_component(e.as_bytes()), raw);
        assert_eq!(decode_component(b"%zz%4"), b"%zz%4");
    }

    #[test]
    fn page_has_no_external_assets_and_escapes_the_return_path() {
        let html = challenge_html(
            "1.16.ab",
            16,
            "/.waap/challenge",
            b"/x?\"</script>",
            Some(3),
        );
        assert!(!html.contains("src=") && !html.contains("href="));
        assert!(!html.contains("</script>\"") && html.contains("%22%3C/script%3E"));
        assert!(html.contains("http-equiv=\"refresh\""));
        assert!(!challenge_html("n", 1, "/c", b"/", None).contains("refresh"));
    }

    /// The page's JavaScript SHA-256 agrees with the Rust one (runs when `node` is on the
    /// PATH; the e2e test solves with Rust, so this is what checks the browser path).
    #[test]
    fn page_sha256_matches_rust_when_node_is_available() {
        use sha2::{Digest, Sha256};
        let dir = std::env::temp_dir().join(format!("waap-pow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let js = dir.join("pow.js");
        std::fs::write(&js, SCRIPT).unwrap();
        let inputs = [
            "",
            "abc",
            "1700000000.16.0123456789abcdef0123456789abcdef:123456",
            &"x".repeat(200),
        ];
        let prog = format!(
            "const p=require({:?});for(const s of {:?}){{console.log(p.sha256(s).map(x=>(x>>>0).toString(16).padStart(8,'0')).join('')+' '+p.bits(p.sha256(s)))}}",
            js.display().to_string(),
            inputs
        );
        let Ok(out) = std::process::Command::new("node")
            .arg("-e")
            .arg(&prog)
            .output()
        else {
            eprintln!("node not found: JavaScript SHA-256 not checked");
            return;
        };
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            inputs.len(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (s, line) in inputs.iter().zip(lines) {
            let d = Sha256::digest(s.as_bytes());
            let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
            let (n, c) = s.split_once(':').unwrap_or((s, ""));
            let bits = if s.contains(':') {
                super::super::token::work_bits(n, c)
            } else {
                let mut z = 0;
                for b in d.iter() {
                    if *b == 0 {
                        z += 8
                    } else {
                        z += b.leading_zeros();
                        break;
                    }
                }
                z
            };
            assert_eq!(line, format!("{hex} {bits}"), "input {s:?}");
        }
    }
}
