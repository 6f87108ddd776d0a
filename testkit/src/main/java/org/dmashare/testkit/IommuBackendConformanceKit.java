package org.dmashare.testkit;

import java.util.Optional;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayNameGeneration;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The conformance kit for {@link IommuBackend} implementations: extend it in a test class, supply
 * {@link #createIommu(PhysicalMemory, int)} and {@link #capabilities()}, and JUnit runs every
 * rule of the SPI's contract against the backend, reported under that class.
 *
 * <p><b>Topics and rule IDs.</b> The rules are grouped by topic, one JUnit 5 test interface each,
 * which this class implements: {@link DeclarationRules} ({@code DECL}), {@link MapRules}
 * ({@code MAP}), {@link UnmapRules} ({@code UNMAP}), {@link ApertureRules} ({@code APERTURE}),
 * {@link ProtectionRules} ({@code PROT}), {@link IotlbRules} ({@code IOTLB}), {@link DomainProtocolRules} ({@code PROTO}, the domain level
 * of map and unmap, {@link org.dmashare.iommu.IommuApi}), {@link
 * TablePageRules} ({@code TABLE}), {@link StreamRules} ({@code STREAM}), {@link ConcurrencyRules}
 * ({@code CONC}), {@link HelperRules} ({@code HELPER}, the sharing helper on two units of the
 * backend) and {@link MixedRules} ({@code MIXED}, the helper mixing the backend with the {@code
 * generic} one). Every rule has a stable ID and a one-line statement in {@link KitRule}; its check
 * names it with {@link Checks}, is displayed as the ID and the statement, and prefixes each failure
 * with the kit subclass, the unit and the ID, then says which part of the rule broke and what the
 * backend did. An unexpected exception from the backend fails the check naming it.
 *
 * <p><b>Capabilities: no check is skipped.</b> A rule about an optional capability comes in two:
 * one for a backend that declares it in {@link Capabilities} and one for a backend that does not
 * (with block mappings, {@code MAP-8} checks block leaves; without, {@code MAP-9} checks that map
 * uses granule pages even where a block would fit), so declaring less than the backend does fails
 * too. Such a rule's check is a {@code @TestFactory} that generates its one test only where the
 * declaration selects the rule, and nothing elsewhere: a run lists the rules it checked, each
 * passed or failed, and none as skipped or aborted. The same holds for the few rules that need
 * what a declaration alone provides (two streams for stream isolation, an IOVA beyond the input
 * size, a generic partner with a larger granule). The README's rule table says when each applies.
 * A setup that cannot work (memory the unit's output width does not reach, or a unit whose input
 * width disagrees with its domains' aperture) fails {@code DECL-1} naming the problem, and every
 * other check is aborted rather than failing for the same reason.
 *
 * <p><b>Fixture.</b> Each check runs on a fresh {@link KitFixture} (a new memory from {@link
 * #createMemory()}, a new unit, the declaration), reached through {@link #kit()}; what the check
 * makes from it is released after it. Translations are always read as a device reads them:
 * through {@link Iommu#walk(int, long)} over the tables in memory, for a stream attached to the
 * domain; {@link IommuDomain#iovaToPhys(long)} is itself checked against that walk.
 *
 * <p>The mixed checks get their partner unit from {@link #createPartnerIommu(PhysicalMemory,
 * String)}, which by default finds the {@code generic} backend with {@link IommuBackends} (so
 * {@code dmashare-generic-backend} must be on the test class path, usually as a test dependency);
 * if it is absent those checks fail with "kit setup: partner backend 'generic' not on the test
 * class path", as checks fail whose memory or aperture is too small for them: a setup the
 * subclass must fix is not a rule that does not apply.
 *
 * <p><b>Adding rules.</b> A new rule is a default method in its topic's interface, annotated
 * {@code @Test} (or {@code @TestFactory} returning {@code kit().onlyIf(condition, check)} when it
 * applies to some declarations only) and {@code @Checks(KitRule.X_n)}, with a constant {@code X_n}
 * added to {@link KitRule} and a row to the README's table. A new topic is a new interface
 * extending {@link KitTopic}, added to this class's {@code implements} list.
 *
 * <p>Designed for extension: one instance runs one check.
 */
@ExtendWith(KitFailureReporter.class)
@DisplayNameGeneration(KitDisplayNames.class)
public abstract class IommuBackendConformanceKit
        implements DeclarationRules,
                MapRules,
                UnmapRules,
                ApertureRules,
                ProtectionRules,
                IotlbRules,
                TablePageRules,
                StreamRules,
                ConcurrencyRules,
                HelperRules,
                MixedRules,
                DomainProtocolRules {

    /** The fixture of the current check. */
    private KitFixture fixture;

    /** Creates the kit; subclasses are instantiated by JUnit. */
    protected IommuBackendConformanceKit() {}

    /**
     * Creates one unit of the backend under test over {@code memory}, every stream blocked. Called
     * once per check, and again by checks that need a second unit of the same backend.
     *
     * @param memory the memory it translates to and takes its table pages from
     * @param streams the number of streams it must have ({@link Capabilities#streams()})
     * @return a new unit
     */
    protected abstract Iommu createIommu(PhysicalMemory memory, int streams);

    /**
     * What the backend declares. Called once per check.
     *
     * @return the capabilities of the units {@link #createIommu} creates
     */
    protected abstract Capabilities capabilities();

    /**
     * The memory each check runs over. Default: 1 GiB at {@code 0x8_0000_0000} with 4 KiB CPU
     * pages. Override if the backend's output size cannot reach it.
     *
     * @return a fresh memory
     */
    protected PhysicalMemory createMemory() {
        return PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
    }

    /**
     * A unit of another backend for the checks that mix backends. Default: a unit of the
     * {@code generic} backend found with {@link IommuBackends}; the check fails, saying so, if it is
     * not on the class path.
     *
     * @param memory the same memory as the unit under test
     * @param variant {@code lpae-4k} or {@code lpae-64k}: the granule the check needs
     * @return the partner unit
     */
    protected Iommu createPartnerIommu(PhysicalMemory memory, String variant) {
        Optional<IommuBackend> generic = IommuBackends.available().stream()
                .filter(b -> b.name().equals("generic"))
                .findFirst();
        KitFixture.requireSetup(
                generic.isPresent(),
                "partner backend 'generic' not on the test class path: add"
                        + " dmashare-generic-backend as a test dependency or override createPartnerIommu");
        return generic.get()
                .create(
                        IommuConfig.builder(variant)
                                .name("partner-" + variant)
                                .streams(2)
                                .build(),
                        memory);
    }

    @BeforeEach
    void kitSetUp(TestInfo info) {
        fixture = new KitFixture(this, info.getTestMethod().orElseThrow());
        // One clear failure (DECL-1) instead of every rule failing for the same reason.
        Assumptions.assumeTrue(
                fixture.rule() == KitRule.DECL_1 || fixture.setupProblem().isEmpty(),
                "kit setup is broken; see " + KitRule.DECL_1.displayName());
    }

    @AfterEach
    void kitTearDown() throws Exception {
        fixture.close();
    }

    /**
     * The fixture of the running check.
     *
     * @return the fixture
     */
    @Override
    public final KitFixture kit() {
        return fixture;
    }

    /**
     * The memory of the running check.
     *
     * @return the memory
     */
    protected final PhysicalMemory memory() {
        return fixture.memory();
    }

    /**
     * The unit under test of the running check.
     *
     * @return the unit
     */
    protected final Iommu iommu() {
        return fixture.iommu();
    }
}
