package org.dmashare.layering;

import static com.tngtech.archunit.base.DescribedPredicate.describe;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.equivalentTo;
import static com.tngtech.archunit.core.domain.JavaClass.Predicates.resideInAPackage;
import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;
import com.tngtech.archunit.library.dependencies.SliceAssignment;
import com.tngtech.archunit.library.dependencies.SliceIdentifier;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;

/**
 * The core's shape, as {@code DESIGN.md} ("The model, layer by layer") states it, checked on the
 * compiled main classes of this module: data flows one way, memory ← page tables ← IOMMU SPI ←
 * the helper, with one named exception (the engine uses the SPI's value types, {@link Prot} among
 * them, as Linux's io-pgtable includes iommu.h); no package cycle; and the core needs nothing but the JDK — no backend, no
 * DMA-API model, no Guice.
 */
@AnalyzeClasses(
        packages = "org.dmashare",
        importOptions = {ImportOption.DoNotIncludeTests.class, ImportOption.DoNotIncludeJars.class})
class CoreLayeringTest {
    /** Every package the core ({@code dmashare-api}) holds. */
    static final String[] CORE_PACKAGES = {
        "org.dmashare",
        "org.dmashare.internal",
        "org.dmashare.memory",
        "org.dmashare.iova",
        "org.dmashare.iova.internal",
        "org.dmashare.pgtable",
        "org.dmashare.iommu",
        "org.dmashare.iommu.support",
        "org.dmashare.sharing"
    };

    /** One slice per package, the root package included (a {@code (**)} pattern would fold it away). */
    private static final SliceAssignment BY_PACKAGE = new SliceAssignment() {
        @Override
        public SliceIdentifier getIdentifierOf(JavaClass javaClass) {
            return SliceIdentifier.of(javaClass.getPackageName());
        }

        @Override
        public String getDescription() {
            return "one slice per package";
        }
    };

    @ArchTest
    static final ArchRule packagesAreFreeOfCycles =
            slices().assignedFrom(BY_PACKAGE).should().beFreeOfCycles();

    /**
     * The only SPI types the engine may name. DESIGN.md names {@link Prot} alone; the hardware walker
     * ({@code PageTableWalker.Result}, {@code leaves}) also returns the SPI's {@link Translation} and
     * {@link IommuFault.Reason} values, so those two are allowed by name as well, and nothing else
     * in {@code org.dmashare.iommu} (no domain, unit or support class).
     */
    private static final DescribedPredicate<JavaClass> SPI_VALUES_THE_ENGINE_NAMES = equivalentTo(Prot.class)
            .or(equivalentTo(Translation.class))
            .or(equivalentTo(IommuFault.Reason.class))
            .as("Prot, Translation or IommuFault.Reason");

    @ArchTest
    static final ArchRule layersDependOnlyDownwards = layeredArchitecture()
            .consideringOnlyDependenciesInLayers()
            .layer("Base")
            .definedBy("org.dmashare", "org.dmashare.internal")
            .layer("Memory")
            .definedBy("org.dmashare.memory")
            .layer("Iova")
            .definedBy("org.dmashare.iova", "org.dmashare.iova.internal")
            .layer("PageTable")
            .definedBy("org.dmashare.pgtable")
            .layer("Spi")
            .definedBy("org.dmashare.iommu", "org.dmashare.iommu.support")
            .layer("Sharing")
            .definedBy("org.dmashare.sharing")
            .whereLayer("Sharing")
            .mayNotBeAccessedByAnyLayer()
            .whereLayer("Spi")
            .mayOnlyBeAccessedByLayers("Sharing")
            .whereLayer("PageTable")
            .mayOnlyBeAccessedByLayers("Spi", "Sharing")
            .whereLayer("Iova")
            .mayOnlyBeAccessedByLayers("Spi", "Sharing")
            .whereLayer("Memory")
            .mayOnlyBeAccessedByLayers("Iova", "PageTable", "Spi", "Sharing")
            .whereLayer("Base")
            .mayNotAccessAnyLayer()
            .ignoreDependency(resideInAPackage("org.dmashare.pgtable"), SPI_VALUES_THE_ENGINE_NAMES)
            .because("DESIGN.md: memory <- page tables <- domains <- the helper; the engine names the SPI's value"
                    + " types Prot, Translation and IommuFault.Reason, and nothing else runs back up");

    @ArchTest
    static final ArchRule coreNeedsOnlyTheJdk = classes()
            .should()
            .onlyDependOnClassesThat(describe("are in the JDK or in the core's own packages", (JavaClass c) -> {
                String p = c.getPackageName();
                if (p.startsWith("java.")) {
                    return true;
                }
                for (String core : CORE_PACKAGES) {
                    if (p.equals(core)) {
                        return true;
                    }
                }
                return false;
            }))
            .because("dmashare-api names no backend, no DMA-API model (org.dmashare.dmaapi), no Guice module"
                    + " (org.dmashare.inject) and no library outside the JDK");
}
