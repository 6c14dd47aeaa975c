//! Generic ABI helpers under the contract interface in `contracts`: event and function
//! declarations in human-readable form, parsed once on first use and kept; call data; and
//! the strict decoding of return data and event data, through `ethers_core::abi`.
//!
//! An RPC node is outside data. ethabi's decoder checks every offset and length against the
//! data, and on top of it a decoded value must re-encode to exactly the bytes it came from
//! (no dirty padding, no address with high bytes set, no odd offsets) and every integer must
//! fit its declared width, so a hostile or broken node gets an error, never a panic or a
//! wrapped value.

use std::sync::OnceLock;

use ethers_core::abi::{self as ethabi, HumanReadableParser, ParamType, Token};

use crate::protocol::{Address, Hash32};

/// An event as a contract declares it (`indexed` decides what is in the data). Meant for
/// statics: parsed on the first use, since every log decoded needs its types.
pub struct EventDeclaration {
    text: &'static str,
    parsed: OnceLock<ParsedEvent>,
}

struct ParsedEvent {
    topic: Hash32,
    first_argument_indexed: bool,
    /// The types of the arguments that are not indexed, in order: the log's data.
    data_types: Vec<ParamType>,
}

impl EventDeclaration {
    pub const fn new(text: &'static str) -> EventDeclaration {
        EventDeclaration {
            text,
            parsed: OnceLock::new(),
        }
    }

    fn parsed(&self) -> &ParsedEvent {
        self.parsed.get_or_init(|| {
            // The declarations are constants, and a unit test parses each one.
            let event = HumanReadableParser::parse_event(self.text)
                .unwrap_or_else(|e| panic!("event declaration {:?}: {e}", self.text));
            ParsedEvent {
                topic: Hash32(event.signature().0),
                first_argument_indexed: event.inputs.first().is_some_and(|p| p.indexed),
                data_types: event
                    .inputs
                    .into_iter()
                    .filter(|p| !p.indexed)
                    .map(|p| p.kind)
                    .collect(),
            }
        })
    }

    /// Topic 0 of the event's logs.
    pub fn topic(&self) -> Hash32 {
        self.parsed().topic
    }

    /// Whether the first argument (the wallet, for the Bridge's events) is indexed.
    pub fn first_argument_indexed(&self) -> bool {
        self.parsed().first_argument_indexed
    }

    /// A log's data: the arguments that are not indexed.
    pub fn decode_data(&self, data: &[u8], what: &'static str) -> Result<Fields, AbiError> {
        decode(&self.parsed().data_types, data, what)
    }
}

/// A function as a contract declares it, parsed on the first use like [`EventDeclaration`].
pub struct FunctionDeclaration {
    text: &'static str,
    parsed: OnceLock<ParsedFunction>,
}

struct ParsedFunction {
    selector: [u8; 4],
    outputs: Vec<ParamType>,
}

impl FunctionDeclaration {
    pub const fn new(text: &'static str) -> FunctionDeclaration {
        FunctionDeclaration {
            text,
            parsed: OnceLock::new(),
        }
    }

    fn parsed(&self) -> &ParsedFunction {
        self.parsed.get_or_init(|| {
            let function = HumanReadableParser::parse_function(self.text)
                .unwrap_or_else(|e| panic!("function declaration {:?}: {e}", self.text));
            ParsedFunction {
                selector: function.short_signature(),
                outputs: function.outputs.into_iter().map(|p| p.kind).collect(),
            }
        })
    }

    /// The first four bytes of call data.
    pub fn selector(&self) -> [u8; 4] {
        self.parsed().selector
    }

    /// Call data: the selector and the encoded arguments.
    pub fn call(&self, arguments: &[Token]) -> Vec<u8> {
        let mut data = self.selector().to_vec();
        data.extend_from_slice(&ethabi::encode(arguments));
        data
    }

    /// The function's return data.
    pub fn decode_output(&self, data: &[u8], what: &'static str) -> Result<Fields, AbiError> {
        decode(&self.parsed().outputs, data, what)
    }
}

/// A `bytes20` as an indexed topic: left-aligned, zero-padded.
pub fn bytes20_topic(b: &[u8; 20]) -> Hash32 {
    let mut t = [0u8; 32];
    t[..20].copy_from_slice(b);
    Hash32(t)
}

/// A topic holding a `bytes20` (left-aligned).
pub fn topic_bytes20(t: &Hash32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(&t.0[..20]);
    out
}

/// Why ABI data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {problem}")]
pub struct AbiError {
    pub what: &'static str,
    pub problem: String,
}

/// Decodes `data` as `types`, strictly (see the module comment).
fn decode(types: &[ParamType], data: &[u8], what: &'static str) -> Result<Fields, AbiError> {
    let fail = |problem: String| AbiError { what, problem };
    let tokens = ethabi::decode(types, data)
        .map_err(|e| fail(format!("{} bytes of data: {e}", data.len())))?;
    let canonical = ethabi::encode(&tokens);
    if data.get(..canonical.len()) != Some(&canonical[..]) {
        return Err(fail(
            "not in the canonical ABI encoding (dirty padding or unusual offsets)".into(),
        ));
    }
    Ok(Fields::new(tokens, what))
}

/// Decoded values, taken in order and checked against what they should be.
pub struct Fields {
    tokens: std::vec::IntoIter<Token>,
    what: &'static str,
    taken: usize,
}

impl Fields {
    fn new(tokens: Vec<Token>, what: &'static str) -> Fields {
        Fields {
            tokens: tokens.into_iter(),
            what,
            taken: 0,
        }
    }

    fn fail(&self, problem: impl Into<String>) -> AbiError {
        AbiError {
            what: self.what,
            problem: problem.into(),
        }
    }

    fn next(&mut self) -> Result<Token, AbiError> {
        self.taken += 1;
        let n = self.taken;
        self.tokens
            .next()
            .ok_or_else(|| self.fail(format!("value {n} is missing")))
    }

    pub fn skip(&mut self, n: usize) -> Result<(), AbiError> {
        for _ in 0..n {
            self.next()?;
        }
        Ok(())
    }

    /// An unsigned integer of at most `bits` bits.
    pub fn uint(&mut self, bits: usize) -> Result<u128, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Uint(v) if v.bits() <= bits.min(128) => Ok(v.as_u128()),
            _ => Err(self.fail(format!("value {n} is not a uint{bits}"))),
        }
    }

    pub fn u64(&mut self, bits: usize) -> Result<u64, AbiError> {
        self.uint(bits.min(64)).map(|v| v as u64)
    }

    pub fn bool(&mut self) -> Result<bool, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Bool(b) => Ok(b),
            _ => Err(self.fail(format!("value {n} is not a bool"))),
        }
    }

    pub fn address(&mut self) -> Result<Address, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Address(a) => Ok(Address(a.0)),
            _ => Err(self.fail(format!("value {n} is not an address"))),
        }
    }

    /// `bytesN`.
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::FixedBytes(b) => b.try_into().ok(),
            _ => None,
        }
        .ok_or_else(|| self.fail(format!("value {n} is not a bytes{N}")))
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Bytes(b) => Ok(b),
            _ => Err(self.fail(format!("value {n} is not bytes"))),
        }
    }

    /// An array or a tuple, as fields of its own.
    pub fn nested(&mut self) -> Result<Fields, AbiError> {
        let n = self.taken + 1;
        match self.next()? {
            Token::Array(items) | Token::Tuple(items) => Ok(Fields::new(items, self.what)),
            _ => Err(self.fail(format!("value {n} is not an array or a tuple"))),
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declaration_is_parsed_once_and_kept() {
        static E: EventDeclaration =
            EventDeclaration::new("event E(bytes20 indexed w, uint64 amount, bytes script)");
        static F: FunctionDeclaration =
            FunctionDeclaration::new("function f(uint32 id) view returns (address)");
        assert!(std::ptr::eq(E.parsed(), E.parsed()));
        assert!(std::ptr::eq(F.parsed(), F.parsed()));
        assert!(E.first_argument_indexed());
        assert_eq!(
            E.parsed().data_types,
            vec![ParamType::Uint(64), ParamType::Bytes]
        );
        assert_eq!(F.parsed().outputs, vec![ParamType::Address]);
    }

    #[test]
    fn bytes20_topics_are_left_aligned() {
        let t = bytes20_topic(&[0x42; 20]);
        assert_eq!(&t.0[20..], &[0u8; 12]);
        assert_eq!(topic_bytes20(&t), [0x42; 20]);
    }
}
