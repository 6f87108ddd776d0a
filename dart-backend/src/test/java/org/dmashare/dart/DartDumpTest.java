package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The JSON register and table dump: its exact shape, and round trips that translate identically. */
class DartDumpTest {

    @Test
    void jsonHasExactlyTheDocumentedShape() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE);
        dart.device(2).attach(d);
        long root = d.table().rootPa();
        long l2 = d.format().decodeAddress(memory.readLong(root));
        String json = dart.dump().toJson();
        String ttbr0 = Long.toString(0x8000_0000L | (root >>> 12));
        assertThat(json)
                .startsWith("{\"variant\": \"t8020\", \"ttbr\": {\"2\": [" + ttbr0
                        + ", 0, 0, 0]}, \"tcr\": {\"2\": 128}," + " \"memory\": {");
        assertThat(json).contains("\"0x" + Long.toHexString(root) + "\": \"", "\"0x" + Long.toHexString(l2) + "\": \"");
        assertThat(json).matches("(?s).*\"0x[0-9a-f]+\": \"[0-9a-f]{32768}\".*");
        assertThat(json.trim()).endsWith("}}");
        // The L2 page's entry 1 is V1's PTE, little-endian.
        assertThat(json).contains("0380000008ff0f00");
    }

    @Test
    void t8110DumpListsOneTtbrPerStream() {
        DartIommu dart = Darts.dart("t8110", Darts.memory());
        dart.device(17).attach(dart.createDomain());
        DartDump dump = dart.dump();
        assertThat(dump.ttbr().get(17)).hasSize(1);
        assertThat(dump.tcr().get(17)).isEqualTo(1L);
        assertThat(dump.memory()).hasSize(1);
        assertThat(dump.toJson()).contains("\"ttbr\": {\"17\": [");
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void loadingADumpBackTranslatesIdentically(String variant) {
        long seed = new Random().nextLong();
        System.out.println(getClass().getSimpleName() + " " + variant + " seed " + seed);
        Random rnd = new Random(seed);
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(IommuConfig.builder(variant).option("bypass", "true"), memory);
        List<Long> probes = new ArrayList<>();
        for (int sid = 0; sid < 3; sid++) {
            DartDomain d = (DartDomain) dart.createDomain();
            for (int i = 0; i < 20; i++) {
                long iova = ((rnd.nextLong() >>> 1) % (1L << 32)) & -0x4000L;
                long pa = memory.allocator().allocate(0x4000, PageUse.BUFFER);
                Prot prot = rnd.nextBoolean() ? Prot.READ : Prot.READ_WRITE;
                try {
                    if (rnd.nextInt(4) == 0) {
                        d.map(iova, pa, 0x4000, prot, 0x40, 0x400);
                    } else {
                        d.map(iova, pa, 0x4000, prot);
                    }
                } catch (MappingConflictException taken) {
                    continue;
                }
                probes.add(iova + rnd.nextInt(0x4000));
                probes.add(iova ^ 0x200_0000L);
            }
            dart.device(sid).attach(d);
        }
        dart.device(3).attach(dart.createDomain(DomainType.IDENTITY));
        probes.add(0L);
        probes.add(0x10_0000_0000L);

        String json = dart.dump().toJson();
        DartIommu loaded = Darts.BACKEND.restore(DartDump.fromJson(json), IommuConfig.of(variant), Darts.memory());
        for (int sid = 0; sid < 5; sid++) {
            assertThat(loaded.tcr(sid)).isEqualTo(dart.tcr(sid));
            assertThat(loaded.ttbrs(sid)).containsExactly(dart.ttbrs(sid));
            for (long iova : probes) {
                Optional<Translation> want = dart.walk(sid, iova);
                assertThat(loaded.walk(sid, iova))
                        .as("sid %d iova %x", sid, iova)
                        .isEqualTo(want);
            }
        }
        assertThat(DartDump.fromJson(json).toJson()).isEqualTo(json);
    }

    @Test
    void readerAcceptsHexStringsForNumbers() {
        DartIommu dart = Darts.dart("t8020", Darts.memory());
        IommuDomain d = dart.createDomain();
        dart.device(0).attach(d);
        DartDump dump = dart.dump();
        long root = ((DartDomain) d).table().rootPa();
        String hexPage = HexFormat.of().formatHex(dump.memory().get(root));
        String json = "{ \"memory\": {\"0x" + Long.toHexString(root) + "\": \"" + hexPage + "\"},\n"
                + "  \"tcr\": {\"0\": \"0x80\"}, \"variant\": \"t8020\",\n"
                + "  \"ttbr\": {\"0\": [\"0x" + Long.toHexString(0x8000_0000L | (root >>> 12))
                + "\", \"0x0\", 0, 0]} }";
        DartDump parsed = DartDump.fromJson(json);
        assertThat(parsed.tcr()).isEqualTo(dump.tcr());
        assertThat(parsed.ttbr()).isEqualTo(dump.ttbr());
        assertThat(parsed.memory().get(root)).isEqualTo(dump.memory().get(root));
        assertThat(DartDump.fromJson("{\"variant\": \"\\u00748020\", \"ttbr\": {}}")
                        .variant())
                .isEqualTo("t8020");
    }

    @Test
    void readerRefusesWhatIsNotADump() {
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"t8020\", \"extra\": 1}"))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("extra");
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"m3\"}")).hasMessageContaining("t8020");
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"t8020\", \"memory\": {\"0x4000\": \"zz\"}}"))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"t8020\", \"memory\": {\"0x4000\": \"00\"}}"))
                .hasMessageContaining("16 KiB");
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"t8020\"")).hasMessageContaining("offset");
        assertThatThrownBy(() -> DartDump.fromJson("{\"variant\": \"t8020\", \"tcr\": {\"0\": 1.5}}"))
                .hasMessageContaining("integers");
    }

    @Test
    void restoreRefusesAMismatchedVariantOrTtbrCount() {
        DartIommu dart = Darts.dart("t8020", Darts.memory());
        dart.device(0).attach(dart.createDomain());
        DartDump dump = dart.dump();
        assertThatThrownBy(() -> Darts.BACKEND.restore(dump, IommuConfig.of("t6000"), Darts.memory()))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("variant t8020");
        DartDump oneTtbr = new DartDump("t8020", Map.of(0, List.of(1L)), Map.of(), Map.of());
        assertThatThrownBy(() -> Darts.BACKEND.restore(oneTtbr, IommuConfig.of("t8020"), Darts.memory()))
                .hasMessageContaining("4 per stream");
    }

    @Test
    void restoreOverMemoryInUseChangesNothing() {
        PhysicalMemory source = Darts.memory();
        DartIommu dart = Darts.dart("t8020", source);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ);
        d.map(0x4000_0000L, 0x8_0000_8000L, 0x4000, Prot.READ);
        dart.device(0).attach(d);
        DartDump dump = dart.dump();
        assertThat(dump.memory()).hasSize(3);
        PhysicalMemory target = Darts.memory();
        long last = ((TreeMap<Long, byte[]>) new TreeMap<>(dump.memory())).lastKey();
        target.allocator().allocateAt(last, 0x4000, PageUse.BUFFER);
        PageAllocator.Usage before = target.allocator().usage();
        assertThatThrownBy(() -> Darts.BACKEND.restore(dump, IommuConfig.of("t8020"), target))
                .isInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThat(target.allocator().usage()).isEqualTo(before);
    }
}
