package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.function.Consumer;
import java.util.function.IntUnaryOperator;
import java.util.function.LongToIntFunction;
import java.util.function.ObjIntConsumer;
import java.util.function.ToIntFunction;
import java.util.stream.Stream;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The register behaviour every layout shares, proved once per variant against that variant's
 * register facts. The facts are written out here from {@code reference/apple-dart.md} (§4-§6),
 * independently of the model's own layout table, so a wrong offset or bit there fails a test.
 */
class DartRegisterLayoutTest {

    /**
     * One variant's register facts, as the hardware reference states them.
     *
     * @param variant the variant's name
     * @param stream a stream to attach (the t8110 one lies beyond the 32 streams of one word)
     * @param otherStream a second stream for invalidation tests
     * @param tcr offset of stream 0's TCR (stride 4)
     * @param ttbr offset of TTBR0 of a stream
     * @param enableWord offset of the stream-enable word holding a stream's bit
     * @param ttbrCount TTBRs per stream
     * @param ttbrOf the TTBR value pointing at a root table
     * @param translate the TCR value for a two-level translation
     * @param error offset of ERROR
     * @param errorAddress offset of ERROR_ADDR_LO
     * @param streamShift position of the stream field in ERROR
     * @param bits the ERROR bits of NO_TTBR, NO_PMD, NO_PTE, WRITE_FAULT, READ_FAULT
     * @param errorStreams offset of ERROR_STREAMS, or -1
     * @param lock offset of the register holding the lock bit
     * @param lockBit the lock bit
     * @param invalidateOne writes the registers that invalidate one stream
     * @param invalidateAll writes the registers that invalidate every stream
     * @param commandBusy reads the invalidation command's busy bit
     */
    record Facts(
            String variant,
            int stream,
            int otherStream,
            int tcr,
            IntUnaryOperator ttbr,
            IntUnaryOperator enableWord,
            int ttbrCount,
            LongToIntFunction ttbrOf,
            int translate,
            int error,
            int errorAddress,
            int streamShift,
            int[] bits,
            int errorStreams,
            int lock,
            int lockBit,
            ObjIntConsumer<DartIommu> invalidateOne,
            Consumer<DartIommu> invalidateAll,
            ToIntFunction<DartIommu> commandBusy) {
        @Override
        public String toString() {
            return variant;
        }
    }

    private static final int[] T8020_BITS = {0, 1, 2, 3, 4};

    static Stream<Facts> layouts() {
        Facts t8020 = t8020Facts("t8020");
        return Stream.of(
                t8020,
                t8020Facts("t6000"),
                new Facts(
                        "t8110",
                        130,
                        131,
                        0x1000,
                        sid -> 0x1400 + 4 * sid,
                        sid -> 0xc00 + 4 * (sid / 32),
                        1,
                        pa -> (int) (((pa >>> 14) << 2) | 1),
                        0x1,
                        0x100,
                        0x170,
                        20,
                        new int[] {0, 2, 3, 4, 5},
                        0x1c0,
                        0x200,
                        1,
                        (dart, sid) -> dart.writeRegister(0x80, (1 << 8) | sid),
                        dart -> dart.writeRegister(0x80, 0),
                        dart -> dart.readRegister(0x80) & 0x8000_0000));
    }

    private static Facts t8020Facts(String variant) {
        return new Facts(
                variant,
                9,
                10,
                0x100,
                sid -> 0x200 + 16 * sid,
                sid -> 0xfc,
                4,
                pa -> (int) (0x8000_0000L | (pa >>> 12)),
                0x80,
                0x40,
                0x50,
                24,
                T8020_BITS,
                -1,
                0x60,
                1 << 15,
                (dart, sid) -> {
                    dart.writeRegister(0x34, 1 << sid);
                    dart.writeRegister(0x20, 1 << 20);
                },
                dart -> {
                    dart.writeRegister(0x34, 0xffff);
                    dart.writeRegister(0x20, 1 << 20);
                },
                dart -> dart.readRegister(0x20) & (1 << 2));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void attachProgramsTtbr0AndTcrAsLinuxDoes(Facts f) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(f.variant(), memory);
        DartDomain d = (DartDomain) dart.createDomain();
        dart.device(f.stream()).attach(d);
        long root = d.table().rootPa();
        assertThat(dart.readRegister(f.ttbr().applyAsInt(f.stream())))
                .isEqualTo(f.ttbrOf().applyAsInt(root));
        int[] expected = new int[f.ttbrCount()];
        expected[0] = f.ttbrOf().applyAsInt(root);
        assertThat(dart.ttbrs(f.stream())).containsExactly(expected);
        assertThat(dart.readRegister(f.tcr() + 4 * f.stream())).isEqualTo(f.translate());
        assertThat(dart.readRegister(f.enableWord().applyAsInt(f.stream())))
                .as("every stream enabled")
                .isEqualTo(-1);
        assertThat(dart.encodeTtbr(root)).isEqualTo(f.ttbrOf().applyAsInt(root));
        assertThat(dart.decodeTtbr(f.ttbrOf().applyAsInt(root))).isEqualTo(root);
        dart.device(f.stream()).detach();
        assertThat(dart.tcr(f.stream())).isZero();
        assertThat(dart.ttbrs(f.stream())).containsOnly(0);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void everyFaultCodeSetsItsLayoutsErrorBitStreamAndAddress(Facts f) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(f.variant(), memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x1234_4000L, Darts.dataPage(memory, (byte) 1), 0x4000, Prot.READ);
        d.map(0xFFFF_C000L, Darts.dataPage(memory, (byte) 2), 0x4000, Prot.WRITE);
        int sid = f.stream();
        DmaDevice dev = dart.device(sid);
        dev.attach(d);
        Object[][] cases = {
            {0x1234_0000L, "NO_PTE", f.bits()[2], false}, // L1 valid, L2 slot empty
            {0x0200_0000L, "NO_PMD", f.bits()[1], false}, // V3: L1 index 1 empty
            {0x10_0000_0000L, "NO_TTBR", f.bits()[0], false}, // TTBR1 left invalid, or beyond a 36-bit walk
            {0x1234_5678L, "WRITE_FAULT", f.bits()[3], true}, // V2: read-only page
            {0xFFFF_C004L, "READ_FAULT", f.bits()[4], false}, // V3: write-only page
        };
        for (Object[] c : cases) {
            long iova = (long) c[0];
            boolean write = (boolean) c[3];
            IommuFault fault = Darts.faultOf(() -> {
                if (write) {
                    dev.write(iova, new byte[4]);
                } else {
                    dev.read(iova, 4);
                }
            });
            assertThat(fault.code()).as("code at %x", iova).isEqualTo(c[1]);
            assertThat(fault.streamId()).isEqualTo(sid);
            assertThat(fault.iova()).isEqualTo(iova);
            int bit = (int) c[2];
            assertThat(dart.readRegister(f.error())).isEqualTo(0x8000_0000 | (sid << f.streamShift()) | (1 << bit));
            long addr = (dart.readRegister(f.errorAddress()) & 0xffff_ffffL)
                    | ((long) dart.readRegister(f.errorAddress() + 4) << 32);
            assertThat(addr).isEqualTo(iova);
            if (f.errorStreams() >= 0) {
                assertThat(dart.readRegister(f.errorStreams() + 4 * (sid / 32))).isEqualTo(1 << (sid % 32));
            }
            assertThat(dart.acknowledgeError()).hasValueSatisfying(e -> {
                assertThat(e.name()).isEqualTo(c[1]);
                assertThat(e.streamId()).isEqualTo(sid);
                assertThat(e.address()).isEqualTo(iova);
                assertThat(e.code()).isEqualTo(1 << bit);
            });
            assertThat(dart.readRegister(f.error())).isZero();
            if (f.errorStreams() >= 0) {
                assertThat(dart.readRegister(f.errorStreams() + 4 * (sid / 32))).isZero();
            }
        }
        assertThat(dart.faults())
                .extracting(IommuFault::code)
                .containsExactly("NO_PTE", "NO_PMD", "NO_TTBR", "WRITE_FAULT", "READ_FAULT");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void firstErrorStaysLatchedUntilAcknowledgedWhileTheLogKeepsEveryFault(Facts f) {
        DartIommu dart = Darts.dart(f.variant(), Darts.memory());
        DmaDevice dev = dart.device(2);
        dev.attach(dart.createDomain());
        Darts.faultOf(() -> dev.read(0x4000, 4));
        Darts.faultOf(() -> dev.read(0x10_0000_0000L, 4));
        assertThat(dart.readRegister(f.error())).isEqualTo(0x8000_0000 | (2 << f.streamShift()) | (1 << f.bits()[1]));
        assertThat(dart.faults()).hasSize(2);
        dart.clearFaults();
        assertThat(dart.faults()).isEmpty();
        assertThat(dart.readRegister(f.error())).isZero();
        assertThat(dart.acknowledgeError()).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void errorRegisterIsWriteOneToClear(Facts f) {
        DartIommu dart = Darts.dart(f.variant(), Darts.memory());
        DmaDevice dev = dart.device(1);
        dev.attach(dart.createDomain());
        Darts.faultOf(() -> dev.read(0x4000, 4));
        int error = dart.readRegister(f.error());
        int pmd = 1 << f.bits()[1];
        assertThat(error & pmd).isNotZero();
        dart.writeRegister(f.error(), pmd);
        assertThat(dart.readRegister(f.error())).isEqualTo(error & ~pmd);
        dart.writeRegister(f.error(), -1);
        assertThat(dart.readRegister(f.error())).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void errorAddressIsReadOnly(Facts f) {
        DartIommu dart = Darts.dart(f.variant(), Darts.memory());
        DmaDevice dev = dart.device(1);
        dev.attach(dart.createDomain());
        Darts.faultOf(() -> dev.read(0x1_2340_0000L, 4));
        dart.writeRegister(f.errorAddress(), 0);
        dart.writeRegister(f.errorAddress() + 4, 0);
        assertThat(dart.acknowledgeError()).map(DartError::address).contains(0x1_2340_0000L);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void invalidationCommandDropsOnlyTheChosenStreamsAndCompletesAtOnce(Facts f) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(f.variant(), memory);
        IommuDomain d = dart.createDomain();
        d.map(0x8000, Darts.dataPage(memory, (byte) 7), 0x4000, Prot.READ_WRITE);
        int kept = f.stream();
        int dropped = f.otherStream();
        dart.device(kept).attach(d);
        dart.device(dropped).attach(d);
        dart.device(kept).read(0x8000, 1);
        dart.device(dropped).read(0x8000, 1);
        d.unmap(0x8000, 0x4000);

        f.invalidateOne().accept(dart, dropped);
        assertThat(f.commandBusy().applyAsInt(dart)).isZero();
        assertThat(dart.device(kept).read(0x8000, 1))
                .as("stale entry of the stream not invalidated")
                .containsExactly(7);
        // io-pgtable-dart keeps the L2 table until the domain is freed: the walk fails at the leaf.
        assertThat(Darts.faultOf(() -> dart.device(dropped).read(0x8000, 1)).code())
                .isEqualTo("NO_PTE");

        f.invalidateAll().accept(dart);
        assertThat(f.commandBusy().applyAsInt(dart)).isZero();
        assertThat(Darts.faultOf(() -> dart.device(kept).read(0x8000, 1)).code())
                .isEqualTo("NO_PTE");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void resetBlocksEveryStreamAndClearsErrors(Facts f) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(f.variant(), memory);
        IommuDomain d = dart.createDomain();
        d.map(0x4000, Darts.dataPage(memory, (byte) 3), 0x4000, Prot.READ);
        dart.device(0).attach(d);
        dart.device(0).read(0x4000, 1);
        Darts.faultOf(() -> dart.device(0).read(0x8000, 1));
        dart.reset();
        assertThat(dart.tcr(0)).isZero();
        assertThat(dart.ttbrs(0)).containsOnly(0);
        assertThat(dart.readRegister(f.error())).isZero();
        assertThat(dart.iotlbSize()).isZero();
        assertThat(Darts.faultOf(() -> dart.device(0).read(0x4000, 1)).reason()).isEqualTo(IommuFault.Reason.BLOCKED);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void lockBitIsStickyAndFreezesTcrAndTtbr(Facts f) {
        DartIommu dart = Darts.dart(f.variant(), Darts.memory());
        int tcr = f.tcr() + 4 * 3;
        int ttbr = f.ttbr().applyAsInt(3);
        dart.writeRegister(tcr, f.translate());
        assertThat(dart.tcr(3)).as("TCR writable before the lock").isEqualTo(f.translate());
        assertThat(dart.isLocked()).isFalse();
        dart.lock();
        assertThat(dart.readRegister(f.lock()) & f.lockBit()).isEqualTo(f.lockBit());
        assertThat(dart.isLocked()).isTrue();
        dart.writeRegister(f.lock(), 0);
        assertThat(dart.isLocked())
                .as("the lock bit cannot be cleared by writing its register")
                .isTrue();
        dart.writeRegister(tcr, 0);
        dart.writeRegister(ttbr, f.ttbrOf().applyAsInt(0x8_1000_0000L));
        assertThat(dart.tcr(3)).isEqualTo(f.translate());
        assertThat(dart.ttbrs(3)).containsOnly(0);
    }
}
