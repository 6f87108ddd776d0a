// The generated project built green; its conformance test must really have run the kit.
def report = new File(basedir, 'project/generated-iommu-backend/target/surefire-reports/TEST-org.example.generated.iommu.GeneratedBackendConformanceTest.xml')
assert report.isFile() : "no surefire report for the generated conformance test: zero kit checks ran"
def suite = (report.text =~ /<testsuite [^>]*/)[0]
def count = { String name -> ((suite =~ /\b${name}="(\d+)"/)[0][1]) as int }
int ran = count('tests') - count('skipped')
println "[archetype-it] conformance kit checks run on the generated backend: ${ran}"
assert ran > 0 : "zero kit checks ran"
return true
