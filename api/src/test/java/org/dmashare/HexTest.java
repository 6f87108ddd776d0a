package org.dmashare;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HexTest {
    @Test
    void addressesAreGroupedByFourDigits() {
        assertThat(Hex.of(0x8_0000_4000L)).isEqualTo("0x8_0000_4000");
        assertThat(Hex.of(0)).isEqualTo("0x0");
        assertThat(Hex.of(0x1234)).isEqualTo("0x1234");
        assertThat(Hex.of(0x1_2345)).isEqualTo("0x1_2345");
        assertThat(Hex.of(-1)).as("unsigned 64-bit pattern").isEqualTo("0xffff_ffff_ffff_ffff");
    }

    @Test
    void sizesUseTheLargestWholeBinaryUnit() {
        assertThat(Hex.size(16384)).isEqualTo("16 KiB (0x4000)");
        assertThat(Hex.size(1L << 21)).isEqualTo("2 MiB (0x20_0000)");
        assertThat(Hex.size(3L << 30)).isEqualTo("3 GiB (0xc000_0000)");
        assertThat(Hex.size(1L << 42)).isEqualTo("4 TiB (0x400_0000_0000)");
        assertThat(Hex.size(1L << 60)).isEqualTo("1 EiB (0x1000_0000_0000_0000)");
        assertThat(Hex.size(1536)).isEqualTo("1536 bytes (0x600)");
        assertThat(Hex.size(0)).isEqualTo("0 bytes (0x0)");
    }

    @Test
    void rangesAreHalfOpen() {
        assertThat(Hex.range(0x4000, 0x4000)).isEqualTo("[0x4000, 0x8000)");
    }
}
