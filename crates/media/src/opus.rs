//! How long an Opus packet plays, from its table-of-contents byte (RFC 6716, section 3.1).
//!
//! A camera that sends Opus over RTP puts one Opus packet in each RTP packet (RFC 7587);
//! live view passes them to the browser as they are, and each needs its duration in the
//! MP4 fragment. The bytes come from the camera: a packet that says nothing sensible is
//! `None`, never a panic.

/// Longest packet Opus allows: 120 ms at 48 kHz.
pub const PACKET_SAMPLES_MAX: u32 = 5_760;

/// Samples at 48 kHz that `packet` decodes to; `None` for an empty packet, a frame count
/// byte that is missing or zero, or more than 120 ms.
pub fn packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame length in 48 kHz samples: SILK-only configurations 0..=11 (10, 20, 40, 60 ms),
    // hybrid 12..=15 (10, 20 ms), CELT-only 16..=31 (2.5, 5, 10, 20 ms).
    let frame = match config {
        0..=11 => [480, 960, 1_920, 2_880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    (frames > 0 && samples <= PACKET_SAMPLES_MAX).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_of_known_packets() {
        // What libopus makes: 20 ms CELT (config 31, one frame), 20 ms SILK wideband
        // (config 9), 10 ms hybrid full band (config 14), two 2.5 ms frames (code 1).
        assert_eq!(packet_samples(&[31 << 3, 0xff]), Some(960));
        assert_eq!(packet_samples(&[9 << 3]), Some(960));
        assert_eq!(packet_samples(&[14 << 3]), Some(480));
        assert_eq!(packet_samples(&[(16 << 3) | 1]), Some(240));
        // Code 3: the count is in the next byte; three 60 ms SILK frames are too long.
        assert_eq!(packet_samples(&[(3 << 3) | 3, 2]), Some(5_760));
        assert_eq!(packet_samples(&[(3 << 3) | 3, 3]), None);
        assert_eq!(packet_samples(&[(31 << 3) | 3, 0]), None, "no frames");
        assert_eq!(packet_samples(&[(31 << 3) | 3]), None, "the count is missing");
        assert_eq!(packet_samples(&[]), None);
    }

    proptest! {
        /// Any bytes: an answer within Opus's limits, in whole 2.5 ms steps, or none.
        #[test]
        fn any_bytes_give_a_bounded_duration_or_none(bytes in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Some(n) = packet_samples(&bytes) {
                prop_assert!(n > 0 && n <= PACKET_SAMPLES_MAX && n % 120 == 0);
            }
        }
    }
}
