//! Parsers for the parts of a request: query strings, cookies and bodies
//! (urlencoded, JSON, multipart, XML). All are total: malformed input yields what could be
//! parsed plus an error flag, never a panic, and all are bounded by the limits passed in.
//!
//! Semantics follow libmodsecurity v3 (the engine CRS v4 is tested against); each module
//! documents where and why it follows or departs from it.

pub mod cookies;
mod error;
pub mod json;
pub mod multipart;
pub mod urlencoded;
pub mod xml;

pub use cookies::{parse_cookies, parse_cookies_limited, CookieLimits};
pub use error::ParseError;
pub use json::{parse_json, Json, JsonLimits};
pub use multipart::{parse_multipart, FilePart, Multipart, MultipartFlags, MultipartLimits};
pub use urlencoded::{parse_args, parse_urlencoded, split_uri, url_decode_form, Args, ArgsLimits};

/// A parsed name/value pair, bytes as decoded.
pub type Pair = (Vec<u8>, Vec<u8>);
pub use xml::{parse_xml, XmlDoc, XmlLimits};

#[cfg(test)]
mod fuzz_tests {
    //! Totality: every parser over thousands of pseudo-random and mutated inputs. A panic
    //! (including an out-of-bounds index or overflow in debug builds) fails the test.
    use super::*;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            if n == 0 {
                0
            } else {
                (self.next() % n as u64) as usize
            }
        }
    }

    const SEEDS: &[&[u8]] = &[
        b"a=1&b=%41%zz+c&&d&=e&f=%",
        b"sid=abc; theme=dark; flag; =x; a=b=c",
        br#"{"a":{"b":"x\u00e9\ud83d\ude00"},"c":[1,-2.5e3,true,false,null,[{"":"z"}]],"d":"\"\\/"}"#,
        b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\\\"y.php\"; filename*=UTF-8''x%20y\r\nContent-Type: text/plain\r\n folded\r\n\r\n<?php ?>\n--XyZ--\r\n",
        b"<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e \"v\">]><r a=\"1&amp;\" xmlns:p=\"u\"><p:b c='2'>t&lt;&#x41;&e;</p:b><![CDATA[<x>]]><!-- c --></r>",
    ];

    const ALPHABET: &[u8] = b"{}[]\":,\\u0123456789abcdefxXtrueflsn.-+eE&=;%<>/!?'-\r\n \t#DOCTYPE[CDATA]boundary--XyZ\x00\xff\xc3\xa9\xed\xa0\x80";

    fn random_input(rng: &mut Rng) -> Vec<u8> {
        let len = rng.below(200);
        (0..len)
            .map(|_| {
                if rng.below(8) == 0 {
                    rng.below(256) as u8
                } else {
                    ALPHABET
                        .get(rng.below(ALPHABET.len()))
                        .copied()
                        .unwrap_or(b'x')
                }
            })
            .collect()
    }

    fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=rng.below(6) {
            let at = rng.below(v.len() + 1);
            match rng.below(6) {
                0 => v.truncate(at),
                1 => {
                    if at < v.len() {
                        v.remove(at);
                    }
                }
                2 => v.insert(
                    at.min(v.len()),
                    ALPHABET
                        .get(rng.below(ALPHABET.len()))
                        .copied()
                        .unwrap_or(b'x'),
                ),
                3 => {
                    if let Some(b) = v.get_mut(at) {
                        *b = rng.below(256) as u8;
                    }
                }
                4 => {
                    // duplicate a slice
                    let end = (at + rng.below(40)).min(v.len());
                    let chunk: Vec<u8> = v.get(at..end).map(<[u8]>::to_vec).unwrap_or_default();
                    let to = rng.below(v.len() + 1);
                    v.splice(to..to, chunk);
                }
                _ => {
                    // deep nesting
                    let open = [b'[', b'{', b'<'];
                    let c = open.get(rng.below(3)).copied().unwrap_or(b'[');
                    let n = rng.below(100);
                    v.splice(at..at, std::iter::repeat_n(c, n));
                }
            }
        }
        v
    }

    fn run_all(input: &[u8], rng: &mut Rng) {
        let small = rng.below(4) == 0;
        let args_l = if small {
            ArgsLimits { max_args: 3 }
        } else {
            ArgsLimits::default()
        };
        let a = parse_args(input, &args_l);
        assert!(a.pairs.len() <= args_l.max_args);
        let _ = parse_urlencoded(input);
        let _ = url_decode_form(input);
        let _ = split_uri(input);
        let _ = parse_cookies(input);
        let _ = parse_cookies_limited(input, &CookieLimits { max_cookies: 2 });

        let json_l = if small {
            JsonLimits {
                max_depth: 3,
                max_elements: 5,
                max_output_bytes: 64,
            }
        } else {
            JsonLimits::default()
        };
        let j = parse_json(input, &json_l);
        assert!(j.pairs.len() <= json_l.max_elements);
        if let Some(e) = j.error {
            assert!(e.offset <= input.len(), "{e}");
        }

        let mp_l = if small {
            MultipartLimits {
                max_parts: 1,
                max_header_line: 20,
                max_headers_per_part: 1,
            }
        } else {
            MultipartLimits::default()
        };
        let cts: [&[u8]; 4] = [
            b"multipart/form-data; boundary=XyZ",
            b"multipart/form-data; boundary=\"XyZ\"",
            b"multipart/form-data boundary = X",
            b"multipart/form-data; boundary=--",
        ];
        for ct in cts {
            let m = parse_multipart(ct, input, &mp_l);
            assert!(m.args.len() + m.files.len() <= mp_l.max_parts);
            assert!(m.error.is_none() || m.strict_error);
        }
        // The input as a Content-Type too.
        let _ = parse_multipart(input, SEEDS.get(3).copied().unwrap_or_default(), &mp_l);

        let xml_l = if small {
            XmlLimits {
                max_depth: 2,
                max_elements: 3,
                max_attributes: 2,
            }
        } else {
            XmlLimits::default()
        };
        let x = parse_xml(input, &xml_l);
        if let Some(e) = x.error {
            assert!(e.offset <= input.len(), "{e}");
        }
    }

    #[test]
    fn parsers_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for seed in SEEDS {
            run_all(seed, &mut rng);
        }
        for i in 0..6000 {
            let input = if i % 3 == 0 {
                random_input(&mut rng)
            } else {
                let seed = SEEDS
                    .get(rng.below(SEEDS.len()))
                    .copied()
                    .unwrap_or_default();
                mutate(&mut rng, seed)
            };
            run_all(&input, &mut rng);
        }
    }

    #[test]
    fn seeds_parse_cleanly() {
        let l = JsonLimits::default();
        assert_eq!(
            parse_json(SEEDS.get(2).copied().unwrap_or_default(), &l).error,
            None
        );
        let m = parse_multipart(
            b"multipart/form-data; boundary=XyZ",
            SEEDS.get(3).copied().unwrap_or_default(),
            &MultipartLimits::default(),
        );
        assert_eq!(m.error, None);
        assert_eq!(
            m.files.first().map(|f| f.filename.clone()),
            Some(b"x\"y.php".to_vec())
        );
        assert_eq!(
            parse_xml(
                SEEDS.get(4).copied().unwrap_or_default(),
                &XmlLimits::default()
            )
            .error,
            None
        );
    }

    #[test]
    fn large_adversarial_inputs_stay_linear() {
        // 256 KiB inputs that would be quadratic for a naive scanner; the test only has to
        // finish quickly (a few seconds at most in debug builds).
        let n = 256 * 1024;
        let mut cases: Vec<Vec<u8>> = vec![
            b"&".repeat(n),
            b"&a".repeat(n / 2),
            b"[".repeat(n),
            b"{\"a\":".repeat(n / 5),
            b"<a>".repeat(n / 3),
            b"<!--".repeat(n / 4),
            b"--XyZ\r\n".repeat(n / 7),
            b"\n".repeat(n),
            b"%".repeat(n),
            b";".repeat(n),
        ];
        let mut long_key = b"{\"".to_vec();
        long_key.extend(b"k".repeat(n / 2));
        long_key.extend(b"\":[");
        long_key.extend(b"1,".repeat(n / 8));
        cases.push(long_key);
        for c in &cases {
            let _ = parse_args(c, &ArgsLimits::default());
            let _ = parse_cookies(c);
            let j = parse_json(c, &JsonLimits::default());
            assert!(
                j.pairs
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
                    <= JsonLimits::default().max_output_bytes
            );
            let _ = parse_multipart(
                b"multipart/form-data; boundary=XyZ",
                c,
                &MultipartLimits::default(),
            );
            let _ = parse_xml(c, &XmlLimits::default());
        }
    }
}
