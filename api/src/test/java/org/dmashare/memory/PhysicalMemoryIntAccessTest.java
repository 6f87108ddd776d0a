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

    @Test
    void writeIntsAcrossAFrameBoundaryEqualsOneWriteIntEach() {
        PhysicalMemory bulk = PhysicalMemory.create(BASE, 1L << 20, 4096);
        PhysicalMemory single = PhysicalMemory.create(BASE, 1L << 20, 4096);
        int[] values = new int[1030];
        for (int i = 0; i < values.length; i++) {
            values[i] = 0x9E37_79B9 * (i + 1);
        }
        long at = BASE + 0x1000 - 8; // two values before the boundary, the rest after it
        bulk.writeInts(at, values, 3, 1025);
        for (int i = 0; i < 1025; i++) {
            single.writeInt(at + 4L * i, values[3 + i]);
        }
        assertThat(bulk.read(BASE, 0x3000)).isEqualTo(single.read(BASE, 0x3000));
        assertThat(bulk.readInt(at)).isEqualTo(values[3]);
        assertThat(bulk.readInt(at + 4L * 1024)).isEqualTo(values[1027]);
    }

    @Test
    void writeIntsRefusesABadSliceOrRangeAndWritesNothing() {
        PhysicalMemory m = PhysicalMemory.create(BASE, 1L << 20, 4096);
        int[] values = {1, 2, 3, 4};
        assertThatThrownBy(() -> m.writeInts(BASE, values, 2, 3))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("does not fit an array of 4");
        assertThatThrownBy(() -> m.writeInts(BASE + 2, values, 0, 4))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("4-byte aligned");
        assertThatThrownBy(() -> m.writeInts(m.end() - 8, values, 0, 4))
                .as("the last two values would fall outside memory")
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("inside memory");
        assertThat(m.touchedBytes()).as("nothing written").isZero();
        m.writeInts(BASE, values, 0, 0);
        assertThat(m.touchedBytes()).isZero();
    }
}
