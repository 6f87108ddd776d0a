package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.junit.jupiter.api.Test;

/** The 32-bit accessors that formats with 4-byte entries (ARM v7s) store their tables with. */
class PhysicalMemoryIntAccessTest {
    private static final long BASE = 0x8000_0000L;

    @Test
    void writeIntStoresLittleEndianAndReadsBack() {
        PhysicalMemory m = PhysicalMemory.create(BASE, 1L << 20, 4096);
        m.writeInt(BASE + 4, 0x0102_0304);
        assertThat(m.read(BASE + 4, 4)).containsExactly(0x04, 0x03, 0x02, 0x01);
        assertThat(m.readInt(BASE + 4)).isEqualTo(0x0102_0304);
        m.writeInt(BASE + 8, 0xFE00_1C36);
        assertThat(m.readInt(BASE + 8)).isEqualTo(0xFE00_1C36);
        assertThat(m.readLong(BASE))
                .as("two ints read as one little-endian long")
                .isEqualTo(0x0102_0304_0000_0000L);
    }

    @Test
    void intNeverWrittenReadsZeroWithoutBackingAFrame() {
        PhysicalMemory m = PhysicalMemory.create(BASE, 1L << 20, 4096);
        assertThat(m.readInt(BASE + 0x1000)).isZero();
        assertThat(m.touchedBytes()).isZero();
    }

    @Test
    void intAccessRequiresFourByteAlignmentInsideMemory() {
        PhysicalMemory m = PhysicalMemory.create(BASE, 1L << 20, 4096);
        for (long bad : new long[] {BASE + 2, BASE + 1, BASE - 4, m.end(), m.end() - 2, 0}) {
            assertThatThrownBy(() -> m.readInt(bad))
                    .as("read %x", bad)
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("4-byte aligned");
            assertThatThrownBy(() -> m.writeInt(bad, 1))
                    .as("write %x", bad)
                    .isInstanceOf(InvalidArgumentException.class);
        }
        m.writeInt(m.end() - 4, 7);
        assertThat(m.readInt(m.end() - 4)).isEqualTo(7);
        assertThat(m.readInt(BASE + 4)).isZero();
    }
}
