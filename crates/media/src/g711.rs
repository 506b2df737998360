//! G.711 (ITU-T G.711, 1988): 16-bit linear PCM to and from 8-bit µ-law and A-law, the
//! codecs every camera speaker takes over its ONVIF backchannel.
//!
//! Both companders keep 14 (µ-law) or 13 (A-law) bits of the sample: the encoders drop the
//! low bits of the 16-bit input first, as the recommendation's reference code does.

/// Which law a camera's backchannel takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law (`PCMU`, static RTP payload type 0).
    Mu,
    /// A-law (`PCMA`, static RTP payload type 8).
    A,
}

impl Law {
    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Mu => mu_encode(sample),
            Law::A => a_encode(sample),
        }
    }

    pub fn decode(self, byte: u8) -> i16 {
        match self {
            Law::Mu => mu_decode(byte),
            Law::A => a_decode(byte),
        }
    }

    /// The SDP/RTP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Law::Mu => "PCMU",
            Law::A => "PCMA",
        }
    }
}

const MU_BIAS: i32 = 0x84;
const MU_CLIP: i32 = 32635;

/// The position of the highest set bit of `v` above bit 7 (the segment), 0..=7.
fn segment(v: i32) -> u8 {
    let mut seg = 0u8;
    let mut x = v >> 8;
    while x != 0 && seg < 7 {
        seg += 1;
        x >>= 1;
    }
    seg
}

pub fn mu_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign = if s < 0 { 0x80u8 } else { 0 };
    let mag = s.abs().min(MU_CLIP) + MU_BIAS;
    let seg = segment(mag);
    let mantissa = ((mag >> (seg + 3)) & 0x0f) as u8;
    !(sign | (seg << 4) | mantissa)
}

pub fn mu_decode(byte: u8) -> i16 {
    let b = !byte;
    let seg = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let mag = (((mantissa << 3) + MU_BIAS) << seg) - MU_BIAS;
    (if b & 0x80 != 0 { -mag } else { mag }) as i16
}

pub fn a_encode(sample: i16) -> u8 {
    // 13 significant bits; the sign bit set means positive, and even bits are inverted.
    let s = i32::from(sample) >> 3;
    let (sign, mag) = if s >= 0 { (0x80u8, s) } else { (0u8, -s - 1) };
    let mag = mag.min(0x0fff);
    let byte = if mag < 32 {
        (mag >> 1) as u8
    } else {
        let seg = segment(mag << 3).max(1);
        ((seg << 4) as i32 | ((mag >> seg) & 0x0f)) as u8
    };
    (sign | byte) ^ 0x55
}

pub fn a_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let seg = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let mag = if seg == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (seg - 1) };
    (if b & 0x80 != 0 { mag } else { -mag }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values_of_the_recommendation() {
        // Silence: µ-law 0xFF, A-law 0xD5 (and their neighbours for -1).
        assert_eq!(mu_encode(0), 0xff);
        assert_eq!(mu_encode(-1), 0x7f);
        assert_eq!(a_encode(0), 0xd5);
        assert_eq!(a_encode(-8), 0x55);
        // Full scale.
        assert_eq!(mu_encode(i16::MAX), 0x80);
        assert_eq!(mu_encode(i16::MIN), 0x00);
        assert_eq!(a_encode(i16::MAX), 0xaa);
        assert_eq!(a_encode(i16::MIN), 0x2a);
        assert_eq!(mu_decode(0xff), 0);
        assert_eq!(mu_decode(0x80), 32124);
        assert_eq!(a_decode(0xd5), 8);
        assert_eq!(a_decode(0xaa), 32256);
        assert_eq!(a_decode(0x2a), -32256);
    }

    #[test]
    fn every_code_decodes_and_encodes_back_to_itself() {
        for b in 0..=255u8 {
            // µ-law has two zeros (0x7f and 0xff): both decode to 0, which encodes to 0xff.
            let back = mu_encode(mu_decode(b));
            assert!(back == b || (b == 0x7f && back == 0xff), "µ-law {b:#04x} → {} → {back:#04x}", mu_decode(b));
            assert_eq!(a_encode(a_decode(b)), b, "A-law {b:#04x}");
        }
    }

    proptest! {
        /// Companding keeps a sample within its segment's step: the error grows with the
        /// magnitude and never exceeds 1/32 of it (plus the smallest step), and the sign stays.
        #[test]
        fn the_error_is_within_a_step(s in any::<i16>()) {
            for law in [Law::Mu, Law::A] {
                let back = i32::from(law.decode(law.encode(s)));
                let s = i32::from(s);
                let tolerance = s.abs() / 16 + 132;
                prop_assert!((back - s).abs() <= tolerance, "{law:?}: {s} → {back}");
                prop_assert!(s == 0 || back == 0 || (back > 0) == (s > 0) || s.abs() < 16, "{law:?} sign: {s} → {back}");
            }
        }
    }
}
