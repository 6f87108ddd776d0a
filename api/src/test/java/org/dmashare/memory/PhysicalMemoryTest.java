package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.InvalidArgumentException;
import org.junit.jupiter.api.Test;

class PhysicalMemoryTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long MIB = 1L << 20;

    private static PhysicalMemory memory() {
        return PhysicalMemory.create(BASE, 16 * MIB, 4096);
    }

    @Test
    void createRejectsPageSizesOtherThan4KiBAnd16KiB() {
        for (int bad : new int[] {0, 1024, 8192, 65536, -4096}) {
            assertThatThrownBy(() -> PhysicalMemory.create(BASE, MIB, bad))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("page size");
        }
        assertThat(PhysicalMemory.create(BASE, MIB, 16384).pageSize()).isEqualTo(16384);
    }

    @Test
    void createRejectsEmptyMisalignedOrOversizedMemory() {
        for (long bad :
                new long[] {0, -4096, 4095, 4096 + 1, PhysicalMemory.MAX_SIZE + 4096, 2 * PhysicalMemory.MAX_SIZE}) {
            assertThatThrownBy(() -> PhysicalMemory.create(BASE, bad, 4096))
                    .as("size %x", bad)
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("memory size");
        }
        assertThatThrownBy(() -> PhysicalMemory.create(BASE, 8192, 16384)).isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void createRejectsMisalignedNegativeOrTooHighBase() {
        for (long bad : new long[] {-4096, 0x800, BASE + 8, (1L << 52) - 4096}) {
            assertThatThrownBy(() -> PhysicalMemory.create(bad, 8192, 4096))
                    .as("base %x", bad)
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("memory base");
        }
        PhysicalMemory top = PhysicalMemory.create((1L << 52) - 8192, 8192, 4096);
        assertThat(top.end()).isEqualTo(1L << 52);
    }

    @Test
    void geometryIsReportedAsCreated() {
        PhysicalMemory m = memory();
        assertThat(m.base()).isEqualTo(BASE);
        assertThat(m.size()).isEqualTo(16 * MIB);
        assertThat(m.end()).isEqualTo(BASE + 16 * MIB);
        assertThat(m.contains(BASE, 16 * MIB)).isTrue();
        assertThat(m.contains(m.end(), 0)).isTrue();
        assertThat(m.contains(BASE - 1, 1)).isFalse();
        assertThat(m.contains(m.end() - 1, 2)).isFalse();
        assertThat(m.contains(BASE, -1)).isFalse();
        assertThat(m.contains(Long.MAX_VALUE, 1)).isFalse();
    }

    @Test
    void longAccessRequiresEightByteAlignmentInsideMemory() {
        PhysicalMemory m = memory();
        for (long bad : new long[] {BASE + 4, BASE + 1, BASE - 8, m.end(), m.end() - 4, 0, Long.MIN_VALUE}) {
            assertThatThrownBy(() -> m.readLong(bad))
                    .as("read %x", bad)
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("8-byte aligned");
            assertThatThrownBy(() -> m.writeLong(bad, 1))
                    .as("write %x", bad)
                    .isInstanceOf(InvalidArgumentException.class);
        }
        m.writeLong(m.end() - 8, 7);
        assertThat(m.readLong(m.end() - 8)).isEqualTo(7);
        assertThat(m.touchedBytes()).isEqualTo(4096);
    }

    @Test
    void byteAccessRejectsRangesOutsideMemoryOrTheArray() {
        PhysicalMemory m = memory();
        byte[] buf = new byte[16];
        assertThatThrownBy(() -> m.read(BASE - 1, buf, 0, 2))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("outside memory");
        assertThatThrownBy(() -> m.read(m.end() - 1, buf, 0, 2)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.write(m.end() - 15, buf)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.read(BASE, buf, 10, 7))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("array slice");
        assertThatThrownBy(() -> m.write(BASE, buf, -1, 2)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.write(BASE, buf, 0, -1)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.read(BASE, -1)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.fill(m.end() - 4, 5, (byte) 1)).isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> m.fill(BASE, -1, (byte) 1)).isInstanceOf(InvalidArgumentException.class);
        assertThat(m.touchedBytes()).as("refused writes back nothing").isZero();
        assertThat(m.read(m.end(), 0)).isEmpty();
    }

    @Test
    void neverWrittenMemoryReadsZeroAndReadingBacksNothing() {
        PhysicalMemory m = memory();
        assertThat(m.read(BASE + 12345, 10000)).containsOnly((byte) 0);
        assertThat(m.readLong(BASE + 8 * MIB)).isZero();
        assertThat(m.touchedBytes()).isZero();
        m.write(BASE, new byte[] {1});
        assertThat(m.read(BASE + 1, 4095)).containsOnly((byte) 0);
        assertThat(m.read(BASE + 4096, 4096)).containsOnly((byte) 0);
    }

    @Test
    void writeLongStoresLittleEndian() {
        PhysicalMemory m = memory();
        m.writeLong(BASE + 16, 0x0102_0304_0506_0708L);
        assertThat(m.read(BASE + 16, 8)).containsExactly(0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01);
        m.write(BASE + 24, new byte[] {(byte) 0xEF, (byte) 0xCD, (byte) 0xAB, (byte) 0x89, 0x67, 0x45, 0x23, 0x01});
        assertThat(m.readLong(BASE + 24)).isEqualTo(0x0123_4567_89AB_CDEFL);
        m.writeLong(BASE + 48, -1L);
        assertThat(m.read(BASE + 47, 10)).containsExactly(0, -1, -1, -1, -1, -1, -1, -1, -1, 0);
    }

    @Test
    void byteAccessesCrossFrameBoundaries() {
        PhysicalMemory m = memory();
        byte[] data = new byte[2 * 4096 + 100];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7 + 3);
        }
        long pa = BASE + 4096 - 50; // starts 50 bytes before a frame boundary, spans 4 frames
        m.write(pa, data);
        assertThat(m.read(pa, data.length)).isEqualTo(data);
        assertThat(m.touchedBytes()).isEqualTo(4 * 4096);
        assertThat(m.read(pa - 1, 1)).containsExactly(0);
        assertThat(m.read(pa + data.length, 1)).containsExactly(0);
        byte[] slice = new byte[20];
        m.read(BASE + 4096 - 10, slice, 0, 20);
        for (int i = 0; i < 20; i++) {
            assertThat(slice[i]).isEqualTo(data[40 + i]);
        }
        assertThat(m.readLong(BASE + 4096 - 8)).isEqualTo(leLong(data, 42));
        assertThat(m.readLong(BASE + 4096)).isEqualTo(leLong(data, 50));
    }

    private static long leLong(byte[] b, int at) {
        long v = 0;
        for (int i = 7; i >= 0; i--) {
            v = (v << 8) | (b[at + i] & 0xFF);
        }
        return v;
    }

    @Test
    void fourTebibyteMemoryCostsNothingUntilTouched() {
        PhysicalMemory m = PhysicalMemory.create(0, PhysicalMemory.MAX_SIZE, 4096);
        assertThat(m.touchedBytes()).isZero();
        assertThat(m.allocator().largestFreeBlock()).isEqualTo(PhysicalMemory.MAX_SIZE);
        assertThat(m.readLong(PhysicalMemory.MAX_SIZE - 8)).isZero();
        m.write(PhysicalMemory.MAX_SIZE - 1, new byte[] {42});
        m.writeLong(1L << 41, 5);
        assertThat(m.touchedBytes()).isEqualTo(2 * 4096);
        assertThat(m.read(PhysicalMemory.MAX_SIZE - 1, 1)).containsExactly(42);
        assertThat(m.readLong(1L << 41)).isEqualTo(5);
        long pa = m.allocator().allocate(1L << 30, PageUse.BUFFER);
        assertThat(m.touchedBytes()).as("allocation does not back frames").isEqualTo(2 * 4096);
        m.allocator().free(pa, 1L << 30);
    }

    @Test
    void fillWithZeroDoesNotBackFramesButClearsWrittenOnes() {
        PhysicalMemory m = memory();
        m.fill(BASE, 8 * MIB, (byte) 0);
        assertThat(m.touchedBytes()).isZero();
        m.fill(BASE + 100, 5000, (byte) 0x5A);
        assertThat(m.touchedBytes()).isEqualTo(2 * 4096);
        assertThat(m.read(BASE + 99, 5002)).startsWith((byte) 0, (byte) 0x5A).endsWith((byte) 0x5A, (byte) 0);
        m.fill(BASE, 3 * 4096, (byte) 0);
        assertThat(m.touchedBytes())
                .as("zero fill over backed and unbacked frames adds none")
                .isEqualTo(2 * 4096);
        assertThat(m.read(BASE, 3 * 4096)).containsOnly((byte) 0);
    }

    @Test
    void threadsWritingDisjointRangesAllSeeTheirData() throws Exception {
        PhysicalMemory m = memory();
        int threads = 8;
        int slice = 1000; // not a frame multiple: neighbouring threads share frames
        int rounds = 64;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                done.add(pool.submit((Callable<Void>) () -> {
                    start.await();
                    for (int r = 0; r < rounds; r++) {
                        long pa = BASE + ((long) r * threads + id) * slice;
                        byte[] b = new byte[slice];
                        Arrays.fill(b, (byte) (id + 1));
                        m.write(pa, b);
                        m.writeLong(BASE + 8 * MIB + 8L * (r * threads + id), ((long) id << 32) | r);
                    }
                    return null;
                }));
            }
            start.countDown();
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        for (int r = 0; r < rounds; r++) {
            for (int id = 0; id < threads; id++) {
                long pa = BASE + ((long) r * threads + id) * slice;
                assertThat(m.read(pa, slice)).as("round %d thread %d", r, id).containsOnly((byte) (id + 1));
                assertThat(m.readLong(BASE + 8 * MIB + 8L * (r * threads + id))).isEqualTo(((long) id << 32) | r);
            }
        }
        long bytes = (long) rounds * threads * slice;
        assertThat(m.touchedBytes()).isEqualTo(((bytes + 4095) / 4096 + 1) * 4096);
    }
}
