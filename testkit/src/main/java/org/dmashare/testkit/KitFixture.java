package org.dmashare.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.lang.reflect.Method;
import java.net.URI;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Stream;
import org.dmashare.Hex;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.function.Executable;
import org.opentest4j.TestAbortedException;

/**
 * The setup every kit check starts from, made fresh for each check: the memory from {@link
 * IommuBackendConformanceKit#createMemory()}, the unit under test over it and the backend's
 * {@link Capabilities}; plus what checks build on it (domains, attached streams, buffer pages, a
 * second unit, generic partners), each released after the check, in reverse order. A check reaches
 * it through {@link KitTopic#kit()}. Only the kit creates fixtures.
 */
public final class KitFixture implements AutoCloseable {

    private final IommuBackendConformanceKit kit;
    private final Method check;
    private final KitRule rule;
    private final Capabilities caps;
    private final PhysicalMemory memory;
    private final Iommu iommu;
    private final Deque<AutoCloseable> cleanup = new ArrayDeque<>();

    /** Creates the memory, the unit and the declaration for one run of {@code check}. */
    KitFixture(IommuBackendConformanceKit kit, Method check) {
        this.kit = kit;
        this.check = check;
        Checks checks = check.getAnnotation(Checks.class);
        this.rule = checks == null ? null : checks.value();
        this.caps = Objects.requireNonNull(kit.capabilities(), "capabilities()");
        this.memory = Objects.requireNonNull(kit.createMemory(), "createMemory()");
        this.iommu = Objects.requireNonNull(kit.createIommu(memory, caps.streams()), "createIommu()");
    }

    /**
     * The memory of the running check.
     *
     * @return the memory
     */
    public PhysicalMemory memory() {
        return memory;
    }

    /**
     * The unit under test of the running check.
     *
     * @return the unit
     */
    public Iommu iommu() {
        return iommu;
    }

    /**
     * What the backend declares, as its kit subclass returned it for this check.
     *
     * @return the declaration
     */
    public Capabilities capabilities() {
        return caps;
    }

    /**
     * The rule the running check proves.
     *
     * @return the rule, or null for a method of a kit subclass that names none
     */
    public KitRule rule() {
        return rule;
    }

    /**
     * Releases everything the check made, last made first, and clears injected failures.
     *
     * @throws Exception the first exception a release threw, after releasing the rest
     */
    @Override
    public void close() throws Exception {
        memory.failures().clear();
        Exception first = null;
        while (!cleanup.isEmpty()) {
            try {
                cleanup.pop().close();
            } catch (Exception e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    // ---- for the topics (package-private) ----

    /** Where a failure happened, for messages: the kit subclass and the unit under test. */
    String where() {
        return kit.getClass().getSimpleName() + " on " + iommu;
    }

    /**
     * The check of the running rule if {@code applies}, else none: a rule that does not apply to the
     * declaration is not generated, so it shows as neither passed nor skipped. The dynamic test is
     * named after the rule, its source is the factory method of the author's class, and its
     * failures are reported as a test method's are.
     */
    Stream<DynamicTest> onlyIf(boolean applies, Executable body) {
        if (!applies) {
            return Stream.empty();
        }
        URI source = URI.create("method:" + kit.getClass().getName() + "#" + check.getName() + "()");
        return Stream.of(DynamicTest.dynamicTest(rule.displayName(), source, () -> {
            try {
                body.execute();
            } catch (TestAbortedException e) {
                throw e;
            } catch (Throwable t) {
                throw KitFailureReporter.report(where(), rule, check.getName(), t);
            }
        }));
    }

    /**
     * Why the kit's setup cannot work: memory the unit's output width cannot reach, or a unit whose
     * input width disagrees with its paging domains' aperture make every rule fail for one reason.
     */
    Optional<String> setupProblem() {
        int oas = iommu.outputBits();
        if (oas < 64 && ((memory.end() - 1) >>> oas) != 0) {
            return Optional.of("memory " + Hex.range(memory.base(), memory.size()) + " reaches beyond the unit's "
                    + oas + "-bit output width (" + Hex.of(1L << oas) + " and above are unreachable): override"
                    + " createMemory() to place it below " + Hex.of(1L << oas));
        }
        IommuDomain d;
        try {
            d = iommu.createDomain();
        } catch (RuntimeException e) {
            return Optional.empty(); // the domain checks report it
        }
        try {
            long end = d.apertureEnd();
            int bits = 64 - Long.numberOfLeadingZeros(end - 1);
            int ias = iommu.inputBits();
            if (bits != ias) {
                return Optional.of("the unit reports a " + ias + "-bit input width but its paging domains' aperture"
                        + " ends at " + Hex.of(end) + ", a " + bits + "-bit IOVA space: the unit's inputBits() and"
                        + " its domains must agree");
            }
            return Optional.empty();
        } finally {
            d.close();
        }
    }

    <T extends AutoCloseable> T closeLater(T resource) {
        cleanup.push(resource);
        return resource;
    }

    /** A paging domain of {@code unit}, closed after the check. */
    IommuDomain domain(Iommu unit) {
        return closeLater(unit.createDomain());
    }

    /** A paging domain of the unit under test with stream {@code sid} attached. */
    IommuDomain attachedDomain(int sid) {
        IommuDomain d = domain(iommu);
        iommu.device(sid).attach(d);
        return d;
    }

    /** A second unit of the backend under test, over the same memory. */
    Iommu secondUnit() {
        return kit.createIommu(memory, caps.streams());
    }

    /** The granule the backend declares. */
    long granule() {
        return caps.granule();
    }

    /** Allocates {@code size} bytes (a power of two) of buffer pages, freed after the check. */
    long pages(long size) {
        long alloc = Math.max(size, memory.pageSize());
        long pa = memory.allocator().allocate(alloc, PageUse.BUFFER);
        cleanup.push(() -> memory.allocator().free(pa, alloc));
        return pa;
    }

    /**
     * Pages the kit may lend for import: one block of {@code size} aligned to {@code alignment},
     * closed after the check.
     */
    PageLease lease(DmaSharing sharing, long size, long alignment) {
        PageLease lease = sharing.allocatePages(size, alignment);
        cleanup.push(lease::close);
        return lease;
    }

    /** A sharing helper over the check's memory. */
    DmaSharing newSharing() {
        return new DmaSharing(memory);
    }

    /** Two domains of the backend under test, each in its own unit with stream 0 attached, and a helper. */
    record TwoUnits(IommuDomain first, IommuDomain second, Iommu otherUnit, DmaSharing sharing) {}

    TwoUnits twoUnits() {
        IommuDomain first = attachedDomain(0);
        Iommu otherUnit = secondUnit();
        IommuDomain second = domain(otherUnit);
        otherUnit.device(0).attach(second);
        return new TwoUnits(first, second, otherUnit, newSharing());
    }

    /** A domain of a generic partner unit ({@code lpae-4k} or {@code lpae-64k}) with stream 0 attached. */
    IommuDomain partnerDomain(String variant) {
        Iommu partner = kit.createPartnerIommu(memory, variant);
        IommuDomain d = domain(partner);
        partner.device(0).attach(d);
        return d;
    }

    /**
     * The block the block-mapping checks map: the smallest declared block where block mappings are
     * declared; otherwise the block a backend would use if it had them (the smallest page size above
     * the granule, or else the span of one last-level table of 8-byte entries), halved until four
     * of them fit the aperture and two the memory.
     */
    long blockSize(IommuDomain d) {
        if (caps.blockMappings()) {
            return caps.smallestBlock();
        }
        long g = granule();
        long size = caps.smallestBlock() != 0 ? caps.smallestBlock() : g * (g / 8);
        while (size > 4 * g
                && (iovaBase(d, size) > d.apertureEnd() - 4 * size - g
                        || !memory.contains((memory.base() + size - 1) & -size, 2 * size))) {
            size /= 2;
        }
        return size;
    }

    /**
     * Walks every granule of {@code [iova, iova + length)} from the tables and fails unless each is
     * mapped by a granule-sized leaf to {@code pa} plus its offset.
     */
    void granulePagesOnly(String r, String call, long iova, long pa, long length) {
        long g = granule();
        for (long o = 0; o < length; o += g) {
            Optional<Translation> t = iommu.walk(0, iova + o);
            if (t.isEmpty() || t.get().pa() != pa + o || t.get().pageSize() != g) {
                fail(rule(r) + " broken: after " + call + " IOVA " + Hex.of(iova + o) + " should be mapped by a "
                        + Hex.size(g) + " page to " + Hex.of(pa + o) + " but the hardware walk finds "
                        + t.map(Translation::toString).orElse("nothing"));
            }
        }
    }

    /** Up to three granule IOVAs far apart in the domain's aperture, so that mapping them needs several tables. */
    long[] scattered(IommuDomain d) {
        long g = granule();
        long span = d.apertureEnd() - d.apertureStart();
        long step = Long.highestOneBit(Math.max(g, Math.min(span / 4, 1L << 30)));
        long base = iovaBase(d, g);
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            long at = base + i * step;
            if (at + g <= d.apertureEnd()) {
                out.add(at);
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** Everything a refused call must leave unchanged: page allocator and walks of some IOVAs. */
    record State(List<PageAllocator.Block> blocks, List<Optional<Translation>> walks) {}

    State state(int sid, long... iovas) {
        List<Optional<Translation>> walks = new ArrayList<>();
        for (long iova : iovas) {
            walks.add(iommu.walk(sid, iova));
        }
        return new State(memory.allocator().allocatedBlocks(), walks);
    }

    void unchanged(String rule, String call, State before, int sid, long... iovas) {
        State after = state(sid, iovas);
        assertThat(after.blocks())
                .as(rule(rule) + " broken: " + call + " was refused but changed the page allocator's live blocks")
                .isEqualTo(before.blocks());
        for (int i = 0; i < iovas.length; i++) {
            assertThat(after.walks().get(i))
                    .as(rule(rule) + " broken: " + call
                            + " was refused but changed what the hardware walk finds at IOVA " + Hex.of(iovas[i]))
                    .isEqualTo(before.walks().get(i));
        }
    }

    void expectFault(String rule, DeviceFaultException e, int sid, long iova, Access access, IommuFault.Reason reason) {
        IommuFault f = e.fault();
        assertThat(f.reason())
                .as(rule(rule) + " broken: the fault for " + access + " at " + Hex.of(iova) + " has the wrong reason: "
                        + f)
                .isEqualTo(reason);
        assertThat(f.streamId())
                .as(rule(rule) + " broken: wrong stream in " + f)
                .isEqualTo(sid);
        assertThat(f.iova()).as(rule(rule) + " broken: wrong IOVA in " + f).isEqualTo(iova);
        assertThat(f.access()).as(rule(rule) + " broken: wrong access in " + f).isEqualTo(access);
        List<IommuFault> log = iommu.faults();
        assertThat(log)
                .as(rule(rule) + " broken: the fault thrown to the device (" + f
                        + ") is not the last entry of the fault log " + log)
                .isNotEmpty();
        assertThat(log.get(log.size() - 1))
                .as(rule(rule) + " broken: the last fault logged differs from the one" + " thrown")
                .isEqualTo(f);
    }

    // ---- static helpers ----

    /** A granule-aligned IOVA, aligned to {@code align}, inside the aperture and above 0. */
    static long iovaBase(IommuDomain d, long align) {
        long start = Math.max(d.apertureStart(), align);
        return (start + align - 1) & -align;
    }

    static String rule(String rule) {
        return "rule '" + rule + "'";
    }

    /**
     * Fails a check whose setup the subclass cannot give it (a missing partner backend, memory or
     * an aperture too small): a setup problem is the author's to fix, not a rule that does not
     * apply, so it is not reported as skipped.
     */
    static void requireSetup(boolean ok, String problem) {
        if (!ok) {
            throw new AssertionError("kit setup: " + problem);
        }
    }

    /** A call whose result or exception a check examines. */
    @FunctionalInterface
    interface Action {
        Object run() throws Exception;
    }

    /**
     * Runs {@code action}, which must throw {@code expected}; otherwise fails naming the rule and
     * what the backend did instead.
     */
    static <E extends Throwable> E refuses(String rule, Class<E> expected, String call, Action action) {
        Object result;
        try {
            result = action.run();
        } catch (Throwable t) {
            if (expected.isInstance(t)) {
                return expected.cast(t);
            }
            throw new AssertionError(
                    rule(rule) + " broken: " + call + " should throw " + expected.getSimpleName()
                            + " but the backend threw " + t,
                    t);
        }
        throw new AssertionError(rule(rule) + " broken: " + call + " should throw " + expected.getSimpleName()
                + " but the backend " + (result == null ? "completed normally" : "returned " + describe(result)));
    }

    static DeviceFaultException faults(String rule, String what, Action access) {
        return refuses(rule, DeviceFaultException.class, what, access);
    }

    /** A call's result for a message: longs in hex, byte arrays as their bytes, never {@code [B@...}. */
    static String describe(Object o) {
        if (o instanceof Long) {
            return Hex.of((Long) o);
        }
        if (o instanceof byte[]) {
            byte[] b = (byte[]) o;
            StringBuilder out = new StringBuilder(b.length + " bytes [");
            for (int i = 0; i < Math.min(b.length, 16); i++) {
                out.append(i == 0 ? "" : " ").append(String.format("%02x", b[i] & 0xff));
            }
            return out.append(b.length > 16 ? " ...]" : "]").toString();
        }
        return String.valueOf(o);
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }
}
